"""The `mmpriv` commands: run (lm-eval with our models, checks and outputs), list/cite, validate,
calibrate, new-task."""
