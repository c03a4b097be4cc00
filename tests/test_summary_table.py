"""The table `mmpriv run` prints has lm-eval's rows (``make_table``), without pytablewriter."""
import json

from lm_eval.utils import make_table

from conftest import run_cli, venv_bin


def _cells(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def _same_row(ours: list[str], theirs: list[str]) -> bool:
    """Equal labels, filter, metric, direction and ±; values and stderrs equal as numbers or as text (a
    metric with no value: lm-eval leaves the cell blank, ours says N/A)."""
    def same(a: str, b: str) -> bool:
        if (a, b) == ("N/A", ""):
            return True
        try:
            return abs(float(a) - float(b)) < 5e-5
        except ValueError:
            return a == b

    return all(same(a, b) for a, b in zip(ours, theirs)) and len(ours) == len(theirs)


def test_the_printed_table_has_lm_evals_rows_for_tasks_and_groups(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", "mmpriv_disclosure,hearsay_gender_cot",
                   "--limit", "2", "--output_path", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    for part in ("results", "groups"):  # lm-eval's table prints a missing stderr as "N/A"
        results[part] = {name: {k: "N/A" if v is None and "_stderr," in k else v for k, v in row.items()}
                         for name, row in results[part].items()}
    table_lines = "\n".join(line for line in proc.stdout.splitlines() if line.startswith("|"))
    tables = ["|Groups" + block if n else block for n, block in enumerate(table_lines.split("\n|Groups"))]
    assert [block.split("|")[1].strip() for block in tables] == ["Tasks", "Groups"]
    for block, part in zip(tables, ("results", "groups")):
        ours, theirs = _cells(block.strip()), _cells(make_table(results, part))
        assert len(ours) == len(theirs) >= 3
        mismatched = [(a, b) for a, b in zip(ours, theirs) if not _same_row(a, b)]
        assert not mismatched, repr(mismatched[:2])
    assert " - mmpriv_disclosure_direct" in tables[0] and "|hearsay_gender_cot" in tables[0]
