"""STAND-IN for the video models of xDiT's registry (xDiT 175e0bf: wan.py, hunyuan.py,
ltx.py, cosmos3.py, causal_wan.py), in one module: their real keys and output type
only, enough for the adapter to tell them apart from text-to-image models.
Capabilities here are the base defaults, not each model's."""

from .base_model import ModelSettings, register_model, xFuserModel

_VIDEO_KEYS = {
    "xFuserWan21I2VModel": ["Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", "Wan2.1-I2V"],  # wan.py:166-167
    "xFuserWan22I2VModel": ["Wan-AI/Wan2.2-I2V-A14B-Diffusers", "Wan2.2-I2V"],  # wan.py:280-281
    "xFuserWan22DistilledI2VModel": ["Wan2.2-Distilled-I2V"],  # wan.py:324
    "xFuserWan21T2VModel": ["Wan-AI/Wan2.1-T2V-14B-Diffusers", "Wan2.1-T2V"],  # wan.py:437-438
    "xFuserWan22T2VModel": ["Wan-AI/Wan2.2-T2V-A14B-Diffusers", "Wan2.2-T2V"],  # wan.py:526-527
    "xFuserWan22TI2VModel": ["Wan-AI/Wan2.2-TI2V-5B-Diffusers", "Wan2.2-TI2V"],  # wan.py:569-570
    "xFuserWan21VACEModel": ["Wan-AI/Wan2.1-VACE-14B-diffusers", "Wan-AI/Wan2.1-VACE-1.3B-diffusers",
                             "Wan2.1-VACE-14B", "Wan2.1-VACE-1.3B"],  # wan.py:678-681
    "xFuserHunyuanvideoModel": ["tencent/HunyuanVideo", "HunyuanVideo"],  # hunyuan.py:30-31
    "xFuserHunyuanvideo15Model": ["tencent/HunyuanVideo-1.5", "Hunyuanvideo-1.5",
                                  "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_i2v",
                                  "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v",
                                  "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_t2v"],  # hunyuan.py:103-108
    "xFuserHunyuanvideo15DistilledModel": ["hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_i2v_distilled",
                                           "tencent/HunyuanVideo-1.5-Diffusers-720p_i2v_distilled",
                                           "Hunyuanvideo-1.5-Distilled"],  # hunyuan.py:208-210
    "xFuserHunyuanvideo15SparseModel": ["tencent/HunyuanVideo-1.5-Sparse", "Hunyuanvideo-1.5-Sparse",
                                        "tencent/HunyuanVideo-1.5-Diffusers-720p_i2v_distilled_sparse"],  # hunyuan.py:256-258
    "xFuserLTX23VideoModel": ["dg845/LTX-2.3-Diffusers", "LTX-2.3"],  # ltx.py:37-38
    "xFuserLTX2VideoModel": ["Lightricks/LTX-2", "LTX-2"],  # ltx.py:215-216
    "xFuserCosmos3SuperModel": ["nvidia/Cosmos3-Super", "Cosmos3-Super"],  # cosmos3.py:92-93
    "xFuserCosmos3NanoModel": ["nvidia/Cosmos3-Nano", "Cosmos3-Nano"],  # cosmos3.py:223-224
    "xFuserCausalWanModel": ["CausalWan"],  # causal_wan.py:20
}

for _name, _keys in _VIDEO_KEYS.items():
    _cls = type(_name, (xFuserModel,), {
        "settings": ModelSettings(model_name=_keys[0], output_name=_name, model_output_type="video"),
    })
    for _key in _keys:
        register_model(_key)(_cls)
    globals()[_name] = _cls
