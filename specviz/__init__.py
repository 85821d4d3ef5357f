"""SpecViz: watch real speculative decoding, one draft->verify round at a time."""
__version__ = "0.1.0"
