"""The README's two opening commands are the contract with a new user: CI must run the test command
verbatim, and the main command must name a config that validates."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tools.show_config import resolved_config

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"


def opening_commands() -> list[str]:
    """The bash blocks before the README's first section heading, in order."""
    text = README.read_text()
    opening = text.split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", opening, flags=re.S)]


def test_readme_opens_with_exactly_two_commands():
    commands = opening_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in command for command in commands), "each command is one line a user can paste"


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = [line.strip() for line in CI_RUN.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert ci_lines[-1] == opening_commands()[1]
    assert "set -euo pipefail" in ci_lines, "a failing install or pytest must fail CI"


def test_both_commands_set_up_the_same_environment():
    main, tests = opening_commands()
    setup = tests.split(" && python -m pytest")[0]
    assert main.startswith(setup + " && python src/main.py ")


def test_the_main_command_is_a_valid_mazero_run_on_3m():
    main = opening_commands()[0]
    argv = shlex.split(main.split(" && python src/main.py ", 1)[1])
    args, _ = resolved_config(argv)
    assert args.name == "mazero"
    assert args.env_args["map_name"] == "3m"
    assert args.t_max <= 20000, "the main job is sized to finish in minutes on 2 cores"


def test_readme_states_the_collected_test_count():
    """A test added or removed without updating the README fails here (one collection pass, ~10 s)."""
    stated = re.search(r"the suite has (\d+) tests", README.read_text())
    assert stated, "the README states how many tests the suite has"
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                str(REPO / "tests")], capture_output=True, text=True, cwd=REPO)
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    count = re.search(r"^(\d+) tests? collected", collected.stdout, flags=re.M)
    assert count, collected.stdout[-2000:]
    assert int(stated.group(1)) == int(count.group(1))
