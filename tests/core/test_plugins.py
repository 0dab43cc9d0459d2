"""One plugin mechanism: classes by `type`, built-in modules loaded once, a broken one logged, not fatal."""

from __future__ import annotations

import logging

import pytest

from safecity.core.plugins import Registry


class Speaker:
    pass


def test_a_plugin_module_that_fails_to_import_is_logged_and_the_others_still_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    speakers: Registry[Speaker] = Registry("speaker", ["safecity.no_such_plugin"])
    speakers.add("loud", Speaker)
    with caplog.at_level(logging.ERROR, logger="safecity.core.plugins"):
        assert speakers.types() == ["loud"]
        assert speakers.get("loud") is Speaker
        speakers.types()
    assert caplog.text.count("speaker plugin safecity.no_such_plugin could not be loaded") == 1
    with pytest.raises(ValueError, match="no speaker of type 'quiet'; known: loud"):
        speakers.get("quiet")
