from sglang.multimodal_gen.released import VERSION

__version__ = version = VERSION
