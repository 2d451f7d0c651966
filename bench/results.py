"""bench/RESULTS.md: bench/run.py writes the file, bench/frontend.py its own section between two markers."""

from __future__ import annotations

from pathlib import Path

PATH = Path(__file__).resolve().parent / "RESULTS.md"
FRONTEND_BEGIN = "<!-- bench/frontend.py: begin -->"
FRONTEND_END = "<!-- bench/frontend.py: end -->"
FOOTER = (
    "Import figures above go through the same code as an admin upload (`points.datasets.dataset_import_file`, "
    "which the admin runs in a background thread). Load figures: [LOAD.md](LOAD.md)."
)
PLACEHOLDER = (
    "## Front end in headless Chromium (bench/frontend.py)\n\n"
    "Not measured yet: run `.venv/bin/python bench/frontend.py --write` (`make bench` does)."
)


def _frontend_section(text: str) -> str | None:
    if FRONTEND_BEGIN in text and FRONTEND_END in text:
        return text[text.index(FRONTEND_BEGIN) : text.index(FRONTEND_END) + len(FRONTEND_END)]
    return None


def write_server(lines: list[str]) -> None:
    """Write bench/run.py's tables, keeping the front end's section of the last file."""
    old = PATH.read_text() if PATH.exists() else ""
    frontend = _frontend_section(old) or f"{FRONTEND_BEGIN}\n{PLACEHOLDER}\n{FRONTEND_END}"
    PATH.write_text("\n".join(lines).rstrip("\n") + "\n\n" + frontend + "\n\n" + FOOTER + "\n")


def write_frontend(lines: list[str]) -> None:
    """Put bench/frontend.py's tables between the markers (at the end if there are none)."""
    text = PATH.read_text() if PATH.exists() else ""
    section = "\n".join([FRONTEND_BEGIN, *lines, FRONTEND_END])
    old = _frontend_section(text)
    PATH.write_text(text.replace(old, section) if old else text.rstrip("\n") + "\n\n" + section + "\n")
