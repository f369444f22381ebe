"""Measuring understanding as callers experience it: scoring (:mod:`.scoring`) and the
operator's pre-launch check of a plan on the spoken channel, ``ivr eval`` (:mod:`.plan`)."""
