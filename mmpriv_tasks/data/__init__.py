"""Dataset generators (synthetic people, forms, voices) and importers (upstream releases)."""
