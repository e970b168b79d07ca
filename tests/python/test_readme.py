"""The README's Python example, verbatim, from the repository root."""
import re
import subprocess
import sys

from conftest import ROOT, cli_env


def readme_block(lang, after):
    text = open(f"{ROOT}/README.md", encoding="utf-8").read()
    section = text[text.index(after):]
    m = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert m, f"no ```{lang} block after '{after}' in README.md"
    return m.group(1)


def test_readme_python_example():
    code = readme_block("python", "## Python")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=cli_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert "AAPL" in p.stdout and "predictions" in p.stdout


def test_readme_import_line():
    line = readme_block("sh", "## Python").strip()
    assert line.startswith("PYTHONPATH=build/python /usr/bin/python3 -c ")
    p = subprocess.run(["bash", "-c", line], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "toto" in p.stdout
