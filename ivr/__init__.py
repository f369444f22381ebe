"""ivr: a voice IVR for Twilio Media Streams (Whisper ASR, Piper TTS, YAML dialplans)."""

__version__ = "0.1.0"
