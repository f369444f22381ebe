"""One live call: the socket loop (:mod:`ivr.call.session`) and the small state machines it feeds.

Each collaborator is pure (fed stream time and booleans, returns what to do) so it is tested
without sockets or models: :mod:`turntaking` (end of turn, speculation), :mod:`endofturn` (does the
caller sound done?), :mod:`bargein` (is the caller really talking over us?), :mod:`playout`
(audio sent, marks, cut and resume), :mod:`keypad` (DTMF collection).
"""
