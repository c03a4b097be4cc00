"""Agreement of HearSay's offline answer parsing with judge-mode scoring, on a hand-written reply set.

Upstream HearSay (``main.py``) decides every reply with a GPT-4o-mini judge (``judge_response_dual``);
our tasks parse replies offline unless ``MMPRIV_REFUSAL_MODE=judge``. This scores every reply of
``tests/data/hearsay_judge_replies.jsonl`` (200 replies in six audio-LLM styles, each with the verdict a
careful judge following upstream's prompt would give, written before the parser ran on them) with the
tasks' own ``judged_answer``: offline, and with ``--judge-url URL --judge-model M`` also in judge mode
against a live OpenAI-compatible judge (upstream's prompt through the project's judge client: batched,
retried and cached as the ``MMPRIV_JUDGE_*`` variables say; the key from the variable named by
``MMPRIV_JUDGE_API_KEY_ENV``, default ``OPENAI_API_KEY``).

A reply's outcome is ``refusal``, ``correct`` or ``wrong`` (``judge_error`` when the judge gave no
verdict), as the task's ``refusal_rate`` and ``accuracy`` count it. Printed per attribute and overall:
the share of replies on which the offline parser's outcome equals the reference (all replies, and
those marked ``clear``); with a judge also the judge's agreement with the reference and the parser's
with the judge (replies the judge decided); then the rates each scorer gives and the parser's
disagreements on clear replies.

    python bench/bench_hearsay_judge_agreement.py [--replies FILE] [--judge-url URL --judge-model M] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPLIES = Path(__file__).resolve().parents[1] / "tests" / "data" / "hearsay_judge_replies.jsonl"


def reference_outcome(record: dict) -> str:
    verdict = record["reference"]
    return "refusal" if verdict["is_refusal"] else "correct" if verdict["is_correct"] else "wrong"


def outcomes(records: list[dict], mode: str) -> list[str]:
    """Each reply's outcome as a HearSay task scores it in ``mode`` (offline | judge): every judge
    request first collected and sent in one concurrent batch, as the tasks' judge pass does."""
    from mmpriv_tasks.scoring.attribute_schema import REFUSED
    from mmpriv_tasks.scoring.judge import collect_requests
    from mmpriv_tasks.scoring.refusal_modes import MODE_ENV
    from mmpriv_tasks.tasks.hearsay import judged_answer

    os.environ[MODE_ENV] = mode
    if mode == "judge":
        with collect_requests() as wanted:
            for record in records:
                judged_answer(record["reply"], record["attribute"], record["gold"])
        if wanted:
            wanted[0].judge.prefetch(wanted)
    decided = []
    for record in records:
        predicted, _ = judged_answer(record["reply"], record["attribute"], record["gold"])
        decided.append("judge_error" if predicted is None else "refusal" if predicted == REFUSED
                       else "correct" if predicted == record["gold"] else "wrong")
    return decided


def _share(pairs: list[tuple[str, str]]) -> dict:
    """Agreement of ``(a, b)`` outcome pairs, leaving out pairs with a judge error."""
    decided = [(a, b) for a, b in pairs if "judge_error" not in (a, b)]
    agree = sum(a == b for a, b in decided)
    return {"agree": agree, "n": len(decided), "share": round(agree / len(decided), 3) if decided else None}


def summarise(rows: list[dict], with_judge: bool) -> dict:
    """Agreement figures and rates over ``rows`` (per-reply dicts with reference/offline[/judge])."""
    clear = [row for row in rows if row["clear"]]
    summary = {"n": len(rows),
               "offline_vs_reference": _share([(r["offline"], r["reference"]) for r in rows]),
               "offline_vs_reference_clear": _share([(r["offline"], r["reference"]) for r in clear])}
    scorers = ("reference", "offline") + (("judge",) if with_judge else ())
    if with_judge:
        summary["judge_vs_reference"] = _share([(r["judge"], r["reference"]) for r in rows])
        summary["offline_vs_judge"] = _share([(r["offline"], r["judge"]) for r in rows])
        summary["judge_errors"] = sum(r["judge"] == "judge_error" for r in rows)
    for scorer in scorers:
        scored = [r[scorer] for r in rows if r[scorer] != "judge_error"]
        summary[f"{scorer}_refusal_rate"] = round(scored.count("refusal") / len(scored), 3)
        summary[f"{scorer}_accuracy"] = round(scored.count("correct") / len(scored), 3)
    return summary


def _cell(share: dict) -> str:
    return f"{share['share']:.3f} ({share['agree']}/{share['n']})" if share["n"] else "-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=Path, default=REPLIES, help="reply set (JSON lines)")
    parser.add_argument("--judge-url", help="OpenAI-compatible judge endpoint, e.g. http://localhost:8001/v1")
    parser.add_argument("--judge-model", help="the judge model's served name")
    parser.add_argument("--json", type=Path, help="also write the figures and every reply's outcomes here")
    args = parser.parse_args(argv)
    if bool(args.judge_url) != bool(args.judge_model):
        parser.error("--judge-url and --judge-model go together")
    from mmpriv_tasks.scoring.attribute_schema import ATTRIBUTES

    records = [json.loads(line) for line in args.replies.read_text(encoding="utf-8").splitlines() if line.strip()]
    with_judge = bool(args.judge_url)
    offline = outcomes(records, "offline")
    if with_judge:
        os.environ["MMPRIV_JUDGE_BASE_URL"], os.environ["MMPRIV_JUDGE_MODEL"] = args.judge_url, args.judge_model
        judged = outcomes(records, "judge")
    rows = [{"id": r["id"], "attribute": r["attribute"], "clear": r["clear"], "reference": reference_outcome(r),
             "offline": offline[i], **({"judge": judged[i]} if with_judge else {})} for i, r in enumerate(records)]
    groups = [a for a in ATTRIBUTES if any(r["attribute"] == a for r in rows)]
    result = {"replies": str(args.replies), "judge_model": args.judge_model,
              "per_attribute": {a: summarise([r for r in rows if r["attribute"] == a], with_judge) for a in groups},
              "overall": summarise(rows, with_judge)}
    result["offline_disagreements_clear"] = [
        {k: row[k] for k in ("id", "reference", "offline")} for row in rows
        if row["clear"] and row["offline"] != row["reference"]]
    result["rows"] = rows

    header = f"{'attribute':<16}{'n':>4}  {'offline=reference':<20}{'clear only':<20}"
    if with_judge:
        header += f"{'judge=reference':<20}{'offline=judge':<20}{'judge errors':>12}"
    print(f"HearSay offline parsing vs judge verdicts on {args.replies.name} ({len(rows)} replies)\n{header}")
    for name, summary in [*result["per_attribute"].items(), ("overall", result["overall"])]:
        line = (f"{name:<16}{summary['n']:>4}  {_cell(summary['offline_vs_reference']):<20}"
                f"{_cell(summary['offline_vs_reference_clear']):<20}")
        if with_judge:
            line += (f"{_cell(summary['judge_vs_reference']):<20}{_cell(summary['offline_vs_judge']):<20}"
                     f"{summary['judge_errors']:>12}")
        print(line)
    overall = result["overall"]
    for scorer in ("reference", "offline") + (("judge",) if with_judge else ()):
        print(f"{scorer:<10} refusal_rate {overall[scorer + '_refusal_rate']:.3f}  "
              f"accuracy {overall[scorer + '_accuracy']:.3f}")
    print("offline disagreements on clear replies (id: reference -> offline):")
    for row in result["offline_disagreements_clear"]:
        print(f"  {row['id']}: {row['reference']} -> {row['offline']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
