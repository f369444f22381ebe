"""ivr: a voice IVR for Twilio Media Streams (Whisper ASR, Piper TTS, YAML dialplans)."""

import os as _os

__version__ = "0.1.0"

# One thread for numpy's OpenBLAS (and any OpenMP runtime). After a multi-threaded BLAS call (the
# log-mel filterbank of every utterance is one) OpenBLAS's worker spins for a while, and it spun
# through the Whisper decode that follows: on this 2-core box a 1-thread decode burned 1.9x its
# wall time in CPU for no gain in speed (encode 33 ms wall / 62 ms CPU, generate 78 / 138),
# CPU taken from the other calls' decodes; with one thread it is 33 / 31 and 82 / 81. A server
# shares its cores between calls, so a library's own threads only compete with them. The
# variables cover a process that imports ivr before numpy; ``limit_native_threads`` (called when
# the models load) covers one that imported numpy first. An operator's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")


def limit_native_threads() -> None:
    """Cap BLAS/OpenMP pools already started in this process to one thread, unless the operator
    asked for more (``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` set to something else)."""
    if _os.environ.get("OPENBLAS_NUM_THREADS", "1") != "1":
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
