"""The media hand-off of every task (``tasks/common.py``): a usable image or clip goes to the model
undecoded; an absent one gives ``[]``; a broken one gives ``[]`` and a per-sample failure naming the
sample, so it is never scored and never reaches the model."""
from mmpriv_tasks.tasks import common

from conftest import png_bytes, wav_bytes


def test_image_hand_off():
    good = {"id": "img-ok", "image": {"bytes": png_bytes(), "path": "ok.png"}}
    (image,) = common.doc_to_image(good)
    assert image.size == (8, 8) and common.image_failure(good) is None
    assert common.doc_to_image({"id": "img-none", "image": None}) == []
    broken = {"id": "img-broken", "image": {"bytes": b"not an image", "path": "broken.png"}}
    assert common.doc_to_image(broken) == []
    assert "img-broken" in common.image_failure(broken)
    assert "img-broken" in common.sample_failure(broken, "a reply")


def test_audio_hand_off():
    clip = {"bytes": wav_bytes(), "path": "ok.wav"}
    assert common.doc_to_audio({"id": "wav-ok", "audio": clip}) == [clip]  # undecoded: the model decodes it
    assert common.doc_to_audio({"id": "wav-none", "audio": None}) == []
    broken = {"id": "wav-broken", "audio": {"bytes": b"RIFF....", "path": "broken.wav"}}
    assert common.doc_to_audio(broken) == []
    assert "wav-broken" in common.sample_failure(broken, "a reply")


def test_the_media_check_memo_keeps_only_the_latest_checks(monkeypatch):
    from mmpriv_tasks.inputs import media

    monkeypatch.setattr(media, "_FAILURES", type(media._FAILURES)())
    monkeypatch.setattr(media, "FAILURES_KEPT", 3)
    docs = [{"id": f"clip-{k}", "audio": {"bytes": wav_bytes(1600 + k), "path": f"{k}.wav"}} for k in range(5)]
    assert [media.media_failure(doc, "audio") for doc in docs] == [None] * 5
    assert len(media._FAILURES) == 3  # a run's memory does not grow with its media
    media.media_failure(docs[2], "audio")  # a recent check is reused and kept longest
    media.media_failure({"id": "clip-9", "audio": {"bytes": b"not audio", "path": "9.wav"}}, "audio")
    assert [key[1] for key in media._FAILURES] == ["clip-4", "clip-2", "clip-9"]
