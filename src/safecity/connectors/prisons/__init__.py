"""Prisons: releases, escapes and transfers of prisoners, polled from the prisons department."""
