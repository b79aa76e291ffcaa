"""The order in which each layer class takes its arguments by position, as its constructor declares it.

A layer expression (`LSTM(75, "relu")`, `nn.LSTM(28, 75, 2)`) maps its positional arguments by
these: read from the signatures of Keras 3.15 and PyTorch 2.13, and checked against
`inspect.signature` of the real classes in the tests (tests/test_expression.py), which also construct
the PyTorch recurrent modules positionally (their `__init__(*args, **kwargs)` forwards to RNNBase).
A class missing here takes its arguments by name only.

PyTorch's GRU and RNN end where their typed signature and what RNNBase does with the positions part:
a ninth positional argument of GRU reaches RNNBase's proj_size, not device.
"""

from __future__ import annotations

_RECURRENT = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer")
_RECURRENT_TAIL = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
                   "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout",
                   "seed", "return_sequences", "return_state", "go_backwards", "stateful")
_CONV = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation",
         "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
         "activity_regularizer", "kernel_constraint", "bias_constraint")
_CONV_LSTM = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
              "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
              "unit_forget_bias", *_RECURRENT_TAIL[:-4], "return_sequences", "return_state", "go_backwards",
              "stateful")
_POOL = ("pool_size", "strides", "padding", "data_format", "name")
_INPUT = ("shape", "batch_size", "dtype", "sparse", "ragged", "batch_shape")

KERAS: dict[str, tuple[str, ...]] = {
    "LSTM": (*_RECURRENT, "unit_forget_bias", *_RECURRENT_TAIL, "unroll", "use_cudnn"),
    "GRU": (*_RECURRENT, *_RECURRENT_TAIL, "unroll", "reset_after", "use_cudnn"),
    "SimpleRNN": ("units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
                  *_RECURRENT_TAIL[:-5], "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                  "seed"),
    "Bidirectional": ("layer", "merge_mode", "weights", "backward_layer"),
    "ConvLSTM1D": _CONV_LSTM, "ConvLSTM2D": _CONV_LSTM, "ConvLSTM3D": _CONV_LSTM,
    "Dense": ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
              "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint", "lora_rank",
              "lora_alpha", "quantization_config"),
    "TimeDistributed": ("layer",),
    "Embedding": ("input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                  "embeddings_constraint", "mask_zero", "weights", "lora_rank", "lora_alpha", "quantization_config"),
    "Masking": ("mask_value",),
    "Dropout": ("rate", "noise_shape", "seed"),
    "Activation": ("activation",),
    "Flatten": ("data_format",),
    "Reshape": ("target_shape",),
    "RepeatVector": ("n",),
    "Conv1D": _CONV, "Conv2D": _CONV,
    "MaxPooling1D": _POOL, "MaxPooling2D": _POOL, "AveragePooling1D": _POOL, "AveragePooling2D": _POOL,
    "GlobalAveragePooling1D": ("data_format", "keepdims"),
    "GlobalMaxPooling1D": ("data_format", "keepdims"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                           "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer",
                           "gamma_regularizer", "beta_constraint", "gamma_constraint", "renorm", "renorm_clipping",
                           "renorm_momentum", "synchronized"),
    "LayerNormalization": ("axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                           "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"),
    # a model's pieces, read by the expression reader itself
    "Sequential": ("layers", "trainable", "name"),
    "Input": (*_INPUT, "name", "tensor", "optional"),
    "InputLayer": (*_INPUT, "input_tensor", "optional", "name"),
}

_RNN = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional")
_CELL = ("input_size", "hidden_size", "bias")

_TORCH_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode", "device", "dtype")
_TORCH_CONV_T = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "groups", "bias",
                 "dilation", "padding_mode", "device", "dtype")

PYTORCH: dict[str, tuple[str, ...]] = {
    "LSTM": (*_RNN, "proj_size", "device", "dtype"),
    "GRU": _RNN,
    "RNN": (*_RNN[:3], "nonlinearity", *_RNN[3:]),
    "LSTMCell": (*_CELL, "device", "dtype"),
    "GRUCell": (*_CELL, "device", "dtype"),
    "RNNCell": (*_CELL, "nonlinearity", "device", "dtype"),
    "Linear": ("in_features", "out_features", "bias", "device", "dtype"),
    "Embedding": ("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq",
                  "sparse", "_weight", "_freeze", "device", "dtype"),
    "Dropout": ("p", "inplace"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine", "bias", "device", "dtype"),
    "AdaptiveAvgPool1d": ("output_size",),
    "AdaptiveAvgPool2d": ("output_size",),
    "AdaptiveMaxPool1d": ("output_size", "return_indices"),
    "AdaptiveMaxPool2d": ("output_size", "return_indices"),
    "AlphaDropout": ("p", "inplace"),
    "AvgPool1d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"),
    "BatchNorm3d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"),
    "CELU": ("alpha", "inplace"),
    "Conv1d": _TORCH_CONV,
    "Conv2d": _TORCH_CONV,
    "Conv3d": _TORCH_CONV,
    "ConvTranspose1d": _TORCH_CONV_T,
    "ConvTranspose2d": _TORCH_CONV_T,
    "ConvTranspose3d": _TORCH_CONV_T,
    "Dropout1d": ("p", "inplace"),
    "Dropout2d": ("p", "inplace"),
    "Dropout3d": ("p", "inplace"),
    "ELU": ("alpha", "inplace"),
    "Flatten": ("start_dim", "end_dim"),
    "GELU": ("approximate",),
    "GroupNorm": ("num_groups", "num_channels", "eps", "affine", "device", "dtype"),
    "Hardsigmoid": ("inplace",),
    "Hardswish": ("inplace",),
    "Hardtanh": ("min_val", "max_val", "inplace", "min_value", "max_value"),
    "Identity": (),
    "LeakyReLU": ("negative_slope", "inplace"),
    "LogSigmoid": (),
    "LogSoftmax": ("dim",),
    "MaxPool1d": ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    "Mish": ("inplace",),
    "PReLU": ("num_parameters", "init", "device", "dtype"),
    "ReLU": ("inplace",),
    "ReLU6": ("inplace",),
    "SELU": ("inplace",),
    "SiLU": ("inplace",),
    "Sigmoid": (),
    "Softmax": ("dim",),
    "Softmin": ("dim",),
    "Softplus": ("beta", "threshold"),
    "Softsign": (),
    "Tanh": (),
    "Tanhshrink": (),
}

POSITIONAL: dict[str, dict[str, tuple[str, ...]]] = {"keras": KERAS, "pytorch": PYTORCH}
