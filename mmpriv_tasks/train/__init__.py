"""Fine-tuning that injects the MM-Privacy memory set into a model (extra ``train``)."""
