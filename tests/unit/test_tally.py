"""The pure parts of the read side: album labels and average ranks."""

from __future__ import annotations

from certamen.contract import album_key
from certamen.results.tally import AlbumStanding, split_album_key


def test_an_album_label_splits_back_into_band_and_album() -> None:
    assert split_album_key(album_key("Alux Nahual", "Leyenda")) == ("Alux Nahual", "Leyenda")


def test_a_known_band_with_the_separator_in_its_name_wins() -> None:
    band = "Los — Raros"
    label = album_key(band, "Uno — Dos")
    assert split_album_key(label, [band, "Los"]) == (band, "Uno — Dos")
    assert split_album_key(label) == ("Los", "Raros — Uno — Dos")


def test_a_label_without_separator_is_an_album_without_band() -> None:
    assert split_album_key("Leyenda") == ("", "Leyenda")


def test_average_rank_is_the_mean_and_none_before_the_first_vote() -> None:
    assert AlbumStanding("a", "b", 4, 19.0).average_rank == 4.75
    assert AlbumStanding("a", "b", 0, 0.0).average_rank is None
    assert AlbumStanding("a", "b", 0, 0.0).key == album_key("a", "b")
