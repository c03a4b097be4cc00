"""Sample logs written slice by slice while ``mmpriv run`` evaluates, in lm-eval's own files.

Stock lm-eval writes the results JSON first, then one ``samples_<task>_<timestamp>.jsonl`` per task
named after the results file's timestamp, and records in the results ``task_hashes``: per task, the
SHA-256 of every record's doc, prompt and target hashes joined in order. :class:`SampleSpool` appends
each slice's records to its task's file as the slice finishes (the tracker's ``save_results_samples``
opens it for appending; until the end its name says ``spooling``), keeps only those three hashes (96
bytes per record), and at the end writes the results JSON through the tracker with the same
``task_hashes`` and renames the sample files to its timestamp: the files are those lm-eval would
have written.
"""
from __future__ import annotations

from pathlib import Path


class SampleSpool:
    """``add`` is :func:`~mmpriv_tasks.commands.slices.evaluate_in_slices`'s ``on_samples``; ``publish``
    writes the results JSON. ``write=False`` (no ``--log_samples``): records are dropped, as lm-eval
    writes no sample files then."""

    SPOOLING = "spooling"

    def __init__(self, tracker, write: bool):
        self.tracker, self.write = tracker, write
        tracker.date_id = self.SPOOLING  # the files' name part until the results JSON sets the timestamp
        self.hashes: dict[str, bytearray] = {}

    def add(self, task: str, records: list) -> None:
        if not self.write:
            return
        hashes = self.hashes.setdefault(task, bytearray())
        for record in records:
            hashes += bytes.fromhex(record["doc_hash"] + record["prompt_hash"] + record["target_hash"])
        self.tracker.save_results_samples(task_name=task, samples=records)

    def publish(self, results: dict) -> None:
        """The results JSON (``task_hashes`` as lm-eval computes them), then the sample files under its name."""
        # lm-eval hashes "".join(doc_hash + prompt_hash + target_hash for each record): one record holding
        # the whole joined string gives the same digest
        joined = {task: [{"doc_hash": hashes.hex(), "prompt_hash": "", "target_hash": ""}]
                  for task, hashes in self.hashes.items()}
        self.tracker.save_results_aggregated(results=results, samples=joined or None)
        final = self.tracker.date_id
        if not self.tracker.output_path:
            return
        root = Path(self.tracker.output_path)
        root = root.parent if root.suffix == ".json" else root
        for task in self.hashes:
            for spooled in root.rglob(f"samples_{task}_{self.SPOOLING}.jsonl"):
                spooled.rename(spooled.with_name(f"samples_{task}_{final}.jsonl"))
