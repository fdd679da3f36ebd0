"""The README's first screen shows the two commands, and its Python example runs as printed."""

import os
import re

import numpy as np

import tichchap

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme():
    with open(README, encoding="utf-8") as f:
        return f.read()


def test_first_screen_shows_demo_and_test_commands():
    first_block = re.search(r"```bash\n(.*?)```", readme(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["bash scripts/demo", "bash scripts/test"]
    assert readme().index("```bash") < 200


def test_python_example_builds_trains_and_saves(tmp_path, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", readme(), re.S).group(1)
    assert len(code.splitlines()) <= 25
    monkeypatch.chdir(tmp_path)
    tichchap.utils.clear_session()
    tichchap.utils.set_random_seed(0)
    namespace = {}
    exec(compile(code, "README.md example", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "Total params: 12,810" in printed and "test accuracy:" in printed
    assert namespace["accuracy"] > 0.6  # measured ~75% (chance: 10%)
    restored = tichchap.load_model(tmp_path / "my_cnn.npz")
    x = namespace["x_test"][:50]
    np.testing.assert_array_equal(restored.predict(x, verbose=0), namespace["model"].predict(x, verbose=0))
