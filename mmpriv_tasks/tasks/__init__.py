"""Task-side code referenced from the YAMLs: prompts helpers, doc_to_*, process_results."""
