"""The posters' CJK font: configured, searched, and refused clearly when missing."""

from __future__ import annotations

from produce_match.deploy import problems
from produce_match.sharing import poster


def test_the_font_is_searched_on_the_usual_debian_paths(tmp_path):
    font = tmp_path / "wqy-microhei.ttc"
    font.write_bytes(b"")
    missing = str(tmp_path / "nothing.ttc")
    assert poster.font_path(None, (missing, str(font))) == str(font)
    assert poster.font_path(None, (missing,)) is None
    assert poster.font_path(str(font)) == str(font)  # a configured one is taken as it is
    assert poster.font_path(missing) is None  # and not replaced by a search when it is wrong


def test_check_deploy_names_a_missing_font(app):
    app.config["POSTER_FONT"] = "/nowhere/font.ttc"
    with app.test_request_context():
        found = problems(workers=1, nodes=1, tls_in_gunicorn=False)
    assert any("POSTER_FONT" in p and "/nowhere/font.ttc" in p for p in found)
    app.config["POSTER_FONT"] = None
    with app.test_request_context():
        found = problems(workers=1, nodes=1, tls_in_gunicorn=False)
    assert not any("font" in p.lower() for p in found)  # .ci/run installs fonts-wqy-microhei


def test_without_a_font_the_poster_answers_503_with_a_message(app, client, lot):
    app.config["POSTER_FONT"] = "/nowhere/font.ttc"
    response = client.get(f"/lots/{lot.id}/poster.png?channel=wechat_group")
    assert response.status_code == 503
    assert "中文字体" in response.text
