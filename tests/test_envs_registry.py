"""Registry and env_args validation: every mistake fails before any environment is built."""
from __future__ import annotations

import warnings

import pytest
from pydantic import ValidationError

from envs import ENV_REGISTRY, BackendFallbackWarning, EnvInfo, SC2Args, get_env_spec, make_vec_env
from envs.sc2_env import sc2_unavailable_reason
from envs.smax_scenarios import SMAX_MAPS

NO_SC2 = sc2_unavailable_reason() is not None


def test_registry_names_and_specs() -> None:
    assert {"sc2", "matrix", "gymma"} <= set(ENV_REGISTRY)
    for name, spec in ENV_REGISTRY.items():
        assert spec.name == name
        assert spec.args_model.model_config.get("extra") == "forbid"
    with pytest.raises(ValueError, match="Did you mean 'matrix'"):
        get_env_spec("matrx")


def test_unknown_env_arg_fails() -> None:
    for name, args in [("sc2", {"map_name": "3m", "backend": "smax"}), ("matrix", {}),
                       ("gymma", {"key": "mpe2:simple_spread_v3"})]:
        with pytest.raises(ValidationError, match="episod_limit"):
            ENV_REGISTRY[name].args_model.model_validate({**args, "episod_limit": 5})


def test_unknown_map_lists_known_maps() -> None:
    with pytest.raises(ValidationError) as err:
        SC2Args.model_validate({"map_name": "4m", "backend": "smax"})
    message = str(err.value)
    assert "unknown map '4m'" in message
    assert all(m in message for m in ("3m", "2m_vs_1z", "8m_vs_9m", "27m_vs_30m"))


def test_smax_map_table() -> None:
    limits = {"3m": 60, "8m": 120, "25m": 150, "2s3z": 120, "3s5z": 150, "5m_vs_6m": 70, "10m_vs_11m": 150,
              "27m_vs_30m": 180, "3s5z_vs_3s6z": 170, "3s_vs_5z": 250, "6h_vs_8z": 150, "2m_vs_1z": 150,
              "8m_vs_9m": 120}
    for name, limit in limits.items():
        assert SMAX_MAPS[name].episode_limit == limit


@pytest.mark.skipif(not NO_SC2, reason="StarCraft II is installed here")
def test_auto_backend_falls_back_to_smax_with_a_warning() -> None:
    with pytest.warns(BackendFallbackWarning, match="SMAX"):
        args = SC2Args.model_validate({"map_name": "3m"})
    assert args.backend == "smax"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SC2Args.model_validate(args.model_dump()).backend == "smax"  # resolved: no second warning


@pytest.mark.skipif(not NO_SC2, reason="StarCraft II is installed here")
def test_sc2_backend_without_starcraft_gives_an_install_hint() -> None:
    with pytest.raises(ValidationError, match="oxwhirl/smac"):
        SC2Args.model_validate({"map_name": "3m", "backend": "sc2"})


def test_keys_of_the_other_backend_are_rejected_or_ignored() -> None:
    with pytest.raises(ValidationError, match="difficulty"):
        SC2Args.model_validate({"map_name": "3m", "backend": "smax", "difficulty": "7"})
    if NO_SC2:
        with pytest.warns(BackendFallbackWarning) as record:
            SC2Args.model_validate({"map_name": "3m", "difficulty": "7"})
        assert any("['difficulty'] are ignored" in str(w.message) for w in record)
    with pytest.raises(ValidationError, match="greater than 0"):
        SC2Args.model_validate({"map_name": "3m", "backend": "smax", "reward_scale_rate": 0})


def test_make_vec_env_validates_before_building() -> None:
    with pytest.raises(ValidationError):
        make_vec_env("matrix", {"map_name": "nope"}, [0])
    vec = make_vec_env("matrix", {}, [0, 1])
    assert vec.num_envs == 2
    info = vec.get_env_info()
    assert isinstance(info, EnvInfo) and info.n_actions == 3
