"""One live call: the socket loop (:mod:`ivr.call.session`) and the small state machines it feeds.

Each collaborator is pure (fed stream time and booleans, returns what to do) so it is tested
without sockets or models: :mod:`turntaking` (end of turn, speculation), :mod:`endofturn` (does the
caller sound done?), :mod:`bargein` (is the caller really talking over us?), :mod:`echo` (our
prompt's echo taken out of what the caller sends), :mod:`playout` (audio sent, marks, cut and
resume), :mod:`keypad` (DTMF collection). The session's glue around them: :mod:`speech` (carrying
out the turn-taker's actions), :mod:`outbound` (writing our audio, ``clear``), :mod:`closing`,
:mod:`timing`, :mod:`recording` and :mod:`work` (the jobs handed to the worker pool).
"""
