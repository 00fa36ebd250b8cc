"""model_card.py keeps the sections other tools write (medlm eval's frontier) when it rebuilds the card."""
import model_card


def test_kept_sections_are_carried_whole(tmp_path):
    card = tmp_path / "README.md"
    frontier = "## The accuracy / speed frontier and budget auto\n\ntable\n\n- a finding\n"
    card.write_text("# m\n\n## Results\n\nrows\n\n" + frontier + "\n## Training log probes\n- probe\n")
    assert model_card.kept_sections(str(card)) == frontier + "\n"


def test_a_card_without_them_keeps_nothing(tmp_path):
    assert model_card.kept_sections(str(tmp_path / "missing.md")) == ""
    card = tmp_path / "README.md"
    card.write_text("# m\n\n## Results\n\nrows\n")
    assert model_card.kept_sections(str(card)) == ""
