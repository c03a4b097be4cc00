"""Every metric module under metrics/ has an evaluate-style card whose examples print what they say."""
import doctest
import re

import evaluate
import pytest

from mmpriv_tasks.paths import metrics_dir

METRICS = sorted(path.name for path in metrics_dir().iterdir() if (path / f"{path.name}.py").is_file())
SECTIONS = ("Metric Description", "How to Use", "Inputs", "Output Values", "Examples", "Limitations and Bias",
            "Citation")
FIRST_CONFIG = {"hearsay_attribute": "gender", "hearsay_blind": "gender"}


def _card(name: str) -> str:
    return (metrics_dir() / name / "README.md").read_text()


def _python_blocks(card: str) -> str:
    """The card's ```python blocks, every other line blanked (so doctest line numbers are the card's)."""
    kept, inside = [], False
    for line in card.splitlines():
        fence = line.startswith("```")
        kept.append(line if inside and not fence else "")
        inside = (line == "```python") if fence else inside
    return "\n".join(kept)


def test_every_metric_family_has_a_module():
    assert {"mmpriv_leak", "mmpriv_refusal", "mmpriv_inconsistency", "hearsay_attribute",
            "hearsay_blind"} <= set(METRICS)


@pytest.mark.parametrize("name", METRICS)
def test_card_has_evaluate_sections_and_requirements(name):
    headings = re.findall(r"^#+ (.+)$", _card(name), flags=re.MULTILINE)
    missing = [section for section in SECTIONS if not any(h.startswith(section) for h in headings)]
    assert not missing, f"metrics/{name}/README.md lacks sections {missing}"
    assert "mmpriv-tasks" in (metrics_dir() / name / "requirements.txt").read_text()


@pytest.mark.parametrize("name", METRICS)
def test_card_examples_print_what_they_say(name):
    parser = doctest.DocTestParser()
    test = parser.get_doctest(_python_blocks(_card(name)), {}, f"metrics/{name}/README.md",
                              str(metrics_dir() / name / "README.md"), 0)
    assert sum(1 for example in test.examples if example.want) >= 3, "a card shows at least three results"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("name", METRICS)
def test_card_cites_what_the_module_cites(name):
    bibtex = re.search(r"## Citation.*?```bibtex\n(.*?)```", _card(name), flags=re.DOTALL)
    assert bibtex, f"metrics/{name}/README.md has no BibTeX block under Citation"
    metric = evaluate.load(str(metrics_dir() / name), FIRST_CONFIG.get(name))
    assert bibtex.group(1).strip() == metric.citation.strip()
