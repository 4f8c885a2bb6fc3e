"""The paper's three models in PyTorch, built from /work/shared/paper.md.

They exist so the TypeScript trainer can be timed against PyTorch on the same architectures, so the
parameter counts are asserted exactly: a model that is "close" would make the comparison meaningless.
"""

import math

import torch
from torch import nn

N_LEADS = 12  # ECG leads
N_SITES = 75  # transmembrane-voltage sites; also the transformer's d_model
T_STEPS = 500  # 1 ms steps
SEGMENT = 10  # the transformer sees the first 10 ECG steps and predicts Vm in 10-step segments

EXPECTED_PARAMS = {
    "squeezenet1d": 392_907,
    "cnn-lstm": 213_835,
    "transformer": 824_731,
}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Fire1d(nn.Module):
    """SqueezeNet Fire block in 1D: 1x1 squeeze, then parallel 1x1 and 3-wide expands, concatenated."""

    def __init__(self, in_ch: int, squeeze: int, expand1: int, expand3: int):
        super().__init__()
        self.squeeze = nn.Conv1d(in_ch, squeeze, kernel_size=1)
        self.expand1 = nn.Conv1d(squeeze, expand1, kernel_size=1)
        # padding 1 keeps the length, so both expand branches line up for the concat.
        self.expand3 = nn.Conv1d(squeeze, expand3, kernel_size=3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.squeeze(x))
        return torch.cat([self.relu(self.expand1(x)), self.relu(self.expand3(x))], dim=1)


def _same_pool() -> nn.MaxPool1d:
    # Stride 1: the network maps every ECG time step to a Vm time step, so length must not shrink.
    return nn.MaxPool1d(kernel_size=3, stride=1, padding=1)


class SqueezeNet1d(nn.Module):
    """SqueezeNet 1.1 made 1D with stride 1 throughout: [B, 12, T] -> [B, 75, T] for any T."""

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(N_LEADS, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            _same_pool(),
            Fire1d(64, 16, 64, 64),
            Fire1d(128, 16, 64, 64),
            _same_pool(),
            Fire1d(128, 32, 128, 128),
            Fire1d(256, 32, 128, 128),
            _same_pool(),
            Fire1d(256, 48, 192, 192),
            Fire1d(384, 48, 192, 192),
            Fire1d(384, 64, 256, 256),
            Fire1d(512, 64, 256, 256),
        )
        # Regression head: no activation after it, since voltages can be negative.
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Conv1d(512, N_SITES, kernel_size=1))
        # The reference training used Kaiming-uniform weights and zero biases.
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class CnnLstm(nn.Module):
    """Three conv blocks (64, 128, 256 channels), an LSTM(256 -> 64) and a per-step Linear(64 -> 75)."""

    def __init__(self):
        super().__init__()
        layers = []
        in_ch = N_LEADS
        for out_ch in (64, 128, 256):
            layers += [nn.Conv1d(in_ch, out_ch, kernel_size=3, padding=1), nn.BatchNorm1d(out_ch), nn.ReLU(inplace=True)]
            in_ch = out_ch
        self.convs = nn.Sequential(*layers)
        # PyTorch's LSTM carries two bias vectors (b_ih and b_hh); the paper's count includes both.
        self.lstm = nn.LSTM(input_size=256, hidden_size=64, batch_first=True)
        self.out = nn.Linear(64, N_SITES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x).transpose(1, 2)  # [B, T, 256]: the LSTM runs along time
        h, _ = self.lstm(h)
        return self.out(h).transpose(1, 2)  # back to [B, 75, T]


class SinusoidalPositions(nn.Module):
    """Vaswani et al. sine/cosine positions added to [B, L, d] tokens; a buffer, so no parameters."""

    def __init__(self, d_model: int, max_len: int = T_STEPS, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        # d_model = 75 is odd: there is one fewer cosine column than sine columns.
        pe[:, 1::2] = torch.cos(pos * div[: d_model // 2])
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x + self.pe[: x.size(1)])


class EcgTransformer(nn.Module):
    """Encoder-decoder over 75-value Vm tokens (one per time step), fed by the SqueezeNet-1D front.

    The SqueezeNet maps the first 10 ECG steps to Vm segment 0; the encoder turns segment 0 into the
    memory; the decoder predicts each token 10 steps ahead. Decoder tokens are the Vm vectors
    themselves, hence no input embedding, no final LayerNorms and no output projection.
    """

    def __init__(self, n_layers: int = 4, dim_feedforward: int = 128, dropout: float = 0.2):
        super().__init__()
        self.front = SqueezeNet1d()
        self.positions = SinusoidalPositions(N_SITES)
        # 75 heads of width 1, post-norm (PyTorch's default norm_first=False).
        enc_layer = nn.TransformerEncoderLayer(
            N_SITES, nhead=N_SITES, dim_feedforward=dim_feedforward, dropout=dropout, batch_first=True
        )
        dec_layer = nn.TransformerDecoderLayer(
            N_SITES, nhead=N_SITES, dim_feedforward=dim_feedforward, dropout=dropout, batch_first=True
        )
        # norm=None: the paper's count has no final LayerNorm on either stack. Nested tensors only
        # help with padding masks, which we never use, and they warn with odd head counts.
        self.encoder = nn.TransformerEncoder(enc_layer, n_layers, norm=None, enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec_layer, n_layers, norm=None)

    def segment0(self, ecg10: torch.Tensor) -> torch.Tensor:
        """[B, 12, 10] ECG -> [B, 10, 75] Vm tokens."""
        return self.front(ecg10).transpose(1, 2)

    def forward(self, ecg: torch.Tensor, vm_tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced training pass.

        ecg: [B, 12, >=10] (only the first 10 steps are used); vm_tokens: [B, 500, 75] true Vm.
        Returns the full prediction [B, 500, 75]: segment 0 followed by decoder tokens 10..499.
        """
        seg0 = self.segment0(ecg[:, :, :SEGMENT])
        memory = self.encoder(self.positions(seg0))
        # Token i may see tokens 0..i only, and its output is the prediction for token i + 10.
        tgt = self.positions(vm_tokens[:, : T_STEPS - SEGMENT])
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.size(1), device=tgt.device, dtype=tgt.dtype)
        out = self.decoder(tgt, memory, tgt_mask=mask, tgt_is_causal=True)
        return torch.cat([seg0, out], dim=1)


def build(name: str) -> nn.Module:
    """Build a model by CLI name and check its parameter count against the paper."""
    constructors = {"squeezenet1d": SqueezeNet1d, "cnn-lstm": CnnLstm, "transformer": EcgTransformer}
    if name not in constructors:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(constructors)}")
    model = constructors[name]()
    n = count_params(model)
    assert n == EXPECTED_PARAMS[name], f"{name}: {n} parameters, paper says {EXPECTED_PARAMS[name]}"
    return model


def _check_all() -> None:
    # Runs on import so a drifted architecture fails before any timing starts; construction is cheap.
    for name in EXPECTED_PARAMS:
        build(name)


_check_all()

if __name__ == "__main__":
    for name in EXPECTED_PARAMS:
        print(f"{name}: {count_params(build(name)):,} parameters (matches the paper)")
