"""Our task templates name ``PrivacyTask``: lm-eval's task with the prompt template compiled once."""
from lm_eval.utils import apply_template

from mmpriv_tasks.tasks.task_class import PrivacyTask, compiled


def test_prompts_render_as_lm_eval_renders_them_with_one_compile_per_template(task_manager):
    for name in ("hearsay_gender_profiler", "mmpriv_disclosure_vqa", "hearsay_blind_gender"):
        task = task_manager.load([name])["tasks"][name]
        assert type(task) is PrivacyTask, name
        template = task.config.doc_to_text
        docs = [task.eval_docs[i] for i in range(5)]
        task.doc_to_text(docs[0])
        before = compiled.cache_info()
        assert [task.doc_to_text(doc) for doc in docs] == [apply_template(template, doc) for doc in docs], name
        after = compiled.cache_info()
        assert (after.misses, after.hits) == (before.misses, before.hits + 5), name  # rendered, not compiled again
        assert task.doc_to_text(docs[0], doc_to_text="id") == docs[0]["id"]  # a column: lm-eval's lookup
        assert task.doc_to_text(docs[0], doc_to_text=lambda doc: "hook") == "hook"  # a hook: lm-eval's call
        # a rendered digit string stays text unless the task has choices (lm-eval's rule)
        assert task.doc_to_text({"n": "7"}, doc_to_text="{{n}}") == apply_template("{{n}}", {"n": "7"}) == "7"
