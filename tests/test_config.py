"""Layered configs and their validation: every mistake is caught before any work, with a clear message."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pydantic import BaseModel

from config.loader import CONFIG_DIR, ConfigError, available, load_layers, load_yaml_file, read_yaml, recursive_update
from config.resolve import env_label, resolve_config
from config.schema import RunConfig
from envs.registry import ENV_REGISTRY
from learners import REGISTRY as LEARNER_REGISTRY
from main import split_argv, with_updates

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "src" / "main.py"


def resolved(alg="qmix", env="matrix", **updates):
    return resolve_config(recursive_update(load_layers(alg, env), updates))


def test_layer_order_default_env_alg_then_cli():
    raw = load_layers("qmix", "gymma")
    assert raw["runner"] == "episode"                  # alg file (the schema's default is parallel)
    assert raw["test_interval"] == 50000               # env file
    assert load_layers("mazero", "matrix")["test_nepisode"] == 32  # alg beats env (8)
    merged = recursive_update(raw, {"env_args": {"time_limit": 25}, "lr": 0.001})
    assert merged["env_args"] == {"key": raw["env_args"]["key"], "time_limit": 25}  # nested merge
    assert merged["lr"] == 0.001


def test_ablation_files_extend_their_base():
    base, ablation = load_layers("mazero", "matrix"), load_layers("mazero_bc", "matrix")
    assert ablation["policy_loss"] == "bc" and "policy_loss" not in base  # mazero keeps the schema's default
    assert resolved("mazero", "matrix").policy_loss == "awpo"
    awpo = ("awpo_alpha", "awpo_standardise", "awpo_clip")  # unread under bc: back to the schema's defaults
    assert {key: ablation[key] for key in awpo} == {"awpo_alpha": 3.0, "awpo_standardise": False, "awpo_clip": None}
    assert {k: v for k, v in ablation.items() if k not in ("policy_loss", "name", *awpo)} == \
           {k: v for k, v in base.items() if k not in ("policy_loss", "name", *awpo)}


def test_command_line_parsing_matches_sacred():
    alg, env, rest = split_argv(["--config=qmix", "--env-config", "sc2", "with", "env_args.map_name=2s3z", "lr=0.01"])
    assert (alg, env) == ("qmix", "sc2")
    assert with_updates(rest) == {"env_args": {"map_name": "2s3z"}, "lr": 0.01}


def test_misspelt_key_names_the_closest_valid_one():
    with pytest.raises(ConfigError, match="unknown config key 'lr_rate'; did you mean 'lr'"):
        resolved(lr_rate=0.1)
    with pytest.raises(ConfigError, match="unknown config key 'batch_sizee'; did you mean 'batch_size'"):
        resolved(batch_sizee=3)


def test_wrong_types_and_impossible_values_are_rejected():
    with pytest.raises(ConfigError, match="invalid value for 't_max'"):
        resolved(t_max=-5)
    with pytest.raises(ConfigError, match="invalid value for 'batch_size'"):
        resolved(batch_size=0)
    with pytest.raises(ConfigError, match="invalid value for 'gamma'"):
        resolved(gamma=1.5)
    with pytest.raises(ConfigError, match="invalid value for 'lr'"):
        resolved(lr="fast")


def test_env_args_are_validated_by_the_env_schema():
    with pytest.raises(ConfigError, match="env_args.mapname"):
        resolved(env_args={"mapname": "matgame2"})
    with pytest.raises(ConfigError, match="unknown map 'no_such_map'"):
        resolved(alg="qmix", env="sc2", env_args={"map_name": "no_such_map", "backend": "smax"})


def test_unknown_component_names_list_the_registered_ones():
    with pytest.raises(ConfigError, match="unknown runner 'paralel'; did you mean 'parallel'"):
        resolved(runner="paralel")
    with pytest.raises(ConfigError, match="unknown learner"):
        resolved(learner="no_learner")
    with pytest.raises(ConfigError, match="unknown alg config 'qmixx'; did you mean 'qmix'"):
        load_layers("qmixx", "matrix")


def test_every_shipped_alg_config_validates_on_every_env():
    for alg in available("algs"):
        for env in ("matrix", "sc2"):
            args = resolved(alg=alg, env=env, env_args={"backend": "smax"} if env == "sc2" else {})
            assert args.name


def test_backend_is_resolved_and_labelled():
    args = resolved(alg="qmix", env="sc2", env_args={"backend": "smax", "map_name": "3m"})
    assert args.env_args["backend"] == "smax"
    assert env_label(args) == "sc2-smax_3m"


def test_main_reports_config_errors_before_any_work():
    proc = subprocess.run([sys.executable, str(MAIN), "--config=qmix", "--env-config=matrix", "with", "t_maxx=100"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown config key 't_maxx'; did you mean 't_max'" in proc.stderr
    assert "Traceback" not in proc.stderr


BROKEN_YAML = "name: broken\nlr: [0.1, 0.2\nbatch_size: 4\n"  # an unclosed list: line 3, column 11


@pytest.fixture
def config_copy(tmp_path, monkeypatch):
    """A writable copy of the shipped config directory that the loader reads instead."""
    from config import loader

    copy = shutil.copytree(loader.CONFIG_DIR, tmp_path / "config", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setattr(loader, "CONFIG_DIR", copy)
    return copy


@pytest.mark.parametrize("broken, alg", [("algs/broken.yaml", "broken"), ("envs/matrix.yaml", "qmix"),
                                         ("default.yaml", "qmix"), ("algs/qmix.yaml", "child")])
def test_a_yaml_syntax_error_is_one_line_naming_the_file_line_and_column(config_copy, capsys, broken, alg):
    import main as entry

    (config_copy / broken).write_text(BROKEN_YAML)
    (config_copy / "algs" / "child.yaml").write_text("extends: qmix\nlr: 0.1\n")  # the parent is the broken one
    with pytest.raises(SystemExit) as exit_:
        entry.main(["main.py", f"--config={alg}", "--env-config=matrix", "with", "t_max=100"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["Configuration error:",
                                f"  {config_copy / broken}:3:11: invalid yaml: expected ',' or ']', but got ':' "
                                "(while parsing a flow sequence)"]


def test_a_config_file_that_is_not_a_mapping_is_named(config_copy):
    (config_copy / "algs" / "listed.yaml").write_text("- lr\n- 0.1\n")
    with pytest.raises(ConfigError, match=r"listed\.yaml: a config file must be a mapping .* got a list"):
        load_layers("listed", "matrix")


def unwritable_directory(tmp_path: Path) -> Path:
    """A directory this process cannot create files in: a read-only one, or for root (who writes
    anywhere the permission bits forbid) a place under /sys, which no one can write."""
    if os.geteuid() == 0:
        return Path("/sys/results")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked


def test_results_dir_must_be_a_writable_directory(tmp_path):
    from utils.preflight import preflight

    a_file = tmp_path / "a_file"
    a_file.write_text("")
    with pytest.raises(ConfigError, match=f"results_dir '{a_file}' is a file, not a directory"):
        preflight(resolved(results_dir=str(a_file)))
    with pytest.raises(ConfigError, match=f"results_dir '{a_file / 'runs'}' is not a writable directory"):
        preflight(resolved(results_dir=str(a_file / "runs")))
    locked = unwritable_directory(tmp_path)
    with pytest.raises(ConfigError, match=f"results_dir '{locked}' is not a writable directory"):
        preflight(resolved(results_dir=str(locked)))
    preflight(resolved(results_dir=str(tmp_path / "new" / "results")))
    assert (tmp_path / "new" / "results").is_dir() and not list((tmp_path / "new" / "results").iterdir())


def test_main_reports_an_unusable_results_dir_before_any_work(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    proc = subprocess.run([sys.executable, str(MAIN), "--config=qmix", "--env-config=matrix", "with",
                           f"results_dir={a_file}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["Configuration error:", f"  results_dir '{a_file}' is a file, not a directory"]


NO_DEFAULT = object()


def schema_default(model: type[BaseModel], key: str) -> object:
    field = model.model_fields.get(key)
    return NO_DEFAULT if field is None or field.is_required() else field.get_default(call_default_factory=True)


def same_value(value: object, default: object) -> bool:
    """Equal as validation would make them (20 == 20.0), but `true` is not `1`."""
    return value == default and isinstance(value, bool) == isinstance(default, bool)


def restatements() -> list[str]:
    """Every yaml key that repeats what the layers beneath it already give, so that each default is
    written once, in the schema: an alg yaml's key against its parent's merged value, otherwise
    against its learner Config's default (not when an env yaml sets the key: the alg's value then
    decides); an env yaml's key against RunConfig's default, `env_args` against the env's schema."""
    envs = {name: load_yaml_file(CONFIG_DIR / "envs" / f"{name}.yaml") for name in available("envs")}
    set_by_envs = set().union(*envs.values())
    found = []
    for alg in available("algs"):
        path = CONFIG_DIR / "algs" / f"{alg}.yaml"
        own = load_yaml_file(path)
        parent = own.pop("extends", None)
        beneath = read_yaml("algs", parent) if parent else {}
        config = LEARNER_REGISTRY[read_yaml("algs", alg)["learner"]].Config
        for key, value in own.items():
            if key in beneath:
                default, source = beneath[key], f"the value of its parent '{parent}'"
            elif key == "learner" or key in set_by_envs:  # `learner` picks the schema; env keys differ per env
                continue
            else:
                default, source = schema_default(config, key), f"{config.__name__}'s default"
            if same_value(value, default):
                found.append(f"{path.relative_to(REPO)}: '{key}: {value}' restates {source}")
    configs = (RunConfig, *(learner.Config for learner in LEARNER_REGISTRY.values()))
    for env, own in envs.items():
        path = CONFIG_DIR / "envs" / f"{env}.yaml"
        args_model = ENV_REGISTRY[own["env"]].args_model
        for key, value in own.get("env_args", {}).items():
            if same_value(value, schema_default(args_model, key)):
                found.append(f"{path.relative_to(REPO)}: 'env_args.{key}: {value}' restates "
                             f"{args_model.__name__}'s default")
        for key, value in own.items():
            readers = [c for c in configs if key in c.model_fields]
            if key != "env_args" and all(same_value(value, schema_default(c, key)) for c in readers):
                found.append(f"{path.relative_to(REPO)}: '{key}: {value}' restates RunConfig's default")
    return found


def test_no_yaml_restates_a_default():
    """The schemas are the one place for defaults (and their sources); a yaml lists only changes."""
    found = restatements()
    assert not found, "remove these keys (the schema already gives them; put a source in its description):\n  " + \
        "\n  ".join(found)


def test_show_config_prints_every_resolved_value_with_its_description(capsys):
    from config.policy_schema import QLearnerConfig
    from tools import show_config

    show_config.main(["--config=qmix", "--env-config=matrix", "batch_size=16"])
    lines = {line.split("=", 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    lr_line = lines["lr"].split()
    assert lr_line[0] == "lr=0.0005"
    assert " ".join(lr_line[1:]) == f"# {QLearnerConfig.model_fields['lr'].description}"
    assert lines["batch_size"].startswith("batch_size=16 ")          # overrides apply
    assert "env_args.map_name" in lines and "env_info" not in lines
    keys = list(lines)
    assert keys.index("name") < keys.index("lr") < keys.index("mixing_embed_dim")  # the schema's field order


def test_show_config_refuses_a_bad_key_as_a_run_does(capsys):
    import main as entry
    from tools import show_config

    messages = []
    for command, argv in ((entry.main, ["main.py", "--config=qmix", "--env-config=matrix", "with", "lr_rate=0.1"]),
                          (show_config.main, ["--config=qmix", "--env-config=matrix", "lr_rate=0.1"])):
        with pytest.raises(SystemExit) as exit_:
            command(argv)
        assert exit_.value.code == 2
        messages.append(capsys.readouterr().err)
    assert messages[0] == messages[1] == "Configuration error:\n  unknown config key 'lr_rate'; did you mean 'lr'?\n"


def test_show_config_takes_seed_and_env_args_from_a_checkpoint_as_a_resume_does(capsys, tmp_path):
    from tools import show_config
    from utils import checkpoint as ckpt

    saved = {"name": "qmix", "learner": "q_learner", "env": "matrix", "seed": 7,
             "env_args": {"map_name": "matgame4", "episode_limit": 1}}
    ckpt.save_checkpoint(tmp_path / "run" / "100", {"t_env": 100, "learner": {}, "config": saved})
    results = tmp_path / "not-created"
    show_config.main(["--config=qmix", "--env-config=matrix", f"checkpoint_path={tmp_path / 'run'}",
                      f"results_dir={results}", "env_args.episode_limit=1"])
    lines = {line.split("=", 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["seed"].startswith("seed=7 ") and "(from checkpoint)" in lines["seed"]
    assert lines["env_args.map_name"].startswith("env_args.map_name='matgame4' ") and "(from checkpoint)" in lines["env_args.map_name"]
    assert "(from checkpoint)" not in lines["env_args.episode_limit"]  # given explicitly: the user's value stands
    assert not results.exists()  # printing a config creates nothing


def test_show_config_refuses_a_missing_checkpoint_as_a_run_does(capsys, tmp_path):
    from tools import show_config

    with pytest.raises(SystemExit) as exit_:
        show_config.main(["--config=qmix", "--env-config=matrix", f"checkpoint_path={tmp_path / 'absent'}"])
    assert exit_.value.code == 2
    assert f"checkpoint_path: checkpoint_path '{tmp_path / 'absent'}' does not exist" in capsys.readouterr().err
