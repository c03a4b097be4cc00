"""Reading task data (datasets, memory-mapped tables), media (images, audio; capped and checked) and the
text on form images (OCR)."""
