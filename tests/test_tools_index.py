"""tools/README.md is the index of the scripts in tools/: each one is listed with what it does."""
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def test_every_tool_is_listed_in_the_index():
    index = (TOOLS / "README.md").read_text()
    scripts = sorted(p.name for p in TOOLS.iterdir() if p.suffix in (".py", ".sh"))
    assert scripts, "no scripts found: the probe is looking in the wrong place"
    missing = [name for name in scripts if f"`{name}" not in index]
    assert not missing, f"tools/README.md does not list {missing}"
