#!/usr/bin/env python3
# Copyright the edgeplug authors. SPDX-License-Identifier: Apache-2.0
"""Build edgeplug's demo keyword-spotting model from scratch, with no train/serve skew.

One command from the repository root (needs espeak-ng and a Rust toolchain; no downloads
besides the pinned pip packages; deterministic seeds):

    sudo apt-get install -y espeak-ng
    python3 -m venv demo/.venv && demo/.venv/bin/pip install -r demo/kws/requirements.txt \\
        && demo/.venv/bin/python demo/kws/train.py

Steps:
  1. Synthesize 1 s clips of 16 kHz mono int16 speech with espeak-ng: six keywords, other
     words (`_unknown_`) and background noise (`_silence_`), across accents, voice variants,
     speeds and pitches, with noise at random SNRs and random time shifts. The test split uses
     voices whose accent AND variant never occur in training, and unknown words never used
     in training (held out by voice and by word).
  2. Compute the MFCC features with edgeplug's own Rust front end
     (`cargo run --release -p edgeplug-dsp --example kws_features`, i.e.
     `edgeplug_dsp::KwsFrontend`, the code the KWS plugin runs), float32 [49,10] per clip.
  3. Train a small DS-CNN (input [1,49,10,1], the MLPerf Tiny KWS layout) in Keras.
  4. Convert to full-integer int8 (int8 input and output, softmax output); fail if any op
     outside CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX.
  5. Evaluate the int8 model with TensorFlow Lite Micro (the reference edgeplug matches
     bit-exactly) on int8 inputs computed, again by the Rust front end, with the model's
     input scale and zero point exactly as the plugin quantizes them.
  6. Write kws_demo_int8.tflite, labels.txt, card.json, MODEL_CARD.md and samples/
     (WAVs + samples.json with their expected labels and TFLM outputs).

Everything lands next to this file. Options: --out DIR writes there instead, --epochs N.
CARGO_TARGET_DIR is honoured when the script runs cargo.
"""

import argparse
import concurrent.futures
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import wave

# Before TensorFlow is imported: deterministic CPU kernels, quiet logs.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert import schema_py_generated as schema  # noqa: E402
from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter  # noqa: E402
from ai_edge_litert.interpreter import OpResolverType  # noqa: E402
from tflite_micro.python.tflite_micro import _version as tflm_version_mod  # noqa: E402
from tflite_micro.python.tflite_micro import runtime as tflm_runtime  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MODEL_FILE = "kws_demo_int8.tflite"

# ----------------------------------------------------------------------------------------
# Recipe constants
# ----------------------------------------------------------------------------------------
SEED = 20240612            # python, numpy and TensorFlow seed for training
DATA_SEED = 3003           # synthesis and augmentation (each clip has its own derived seed)
FS = 16000
CLIP = 16000               # 1 s
FRAMES, COEFFS = 49, 10
KEYWORDS = ["yes", "no", "up", "down", "left", "right"]
SILENCE, UNKNOWN = "_silence_", "_unknown_"
LABELS = KEYWORDS + [SILENCE, UNKNOWN]
# Held out by voice: a voice is espeak-ng "<accent>+<variant>". Test voices use accents and
# variants that never occur in training.
TRAIN_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-029"]
TRAIN_VARIANTS = ["m1", "m2", "m3", "m5", "m6", "m8", "f1", "f2", "f4", "klatt", "klatt3"]
TEST_ACCENTS = ["en-us-nyc", "en-gb-x-gbcwmd"]
TEST_VARIANTS = ["m4", "m7", "f3", "f5", "klatt2"]
# Other words (`_unknown_`); the test split uses words never heard in training.
UNKNOWN_TRAIN = ["on", "off", "stop", "go", "bed", "bird", "cat", "dog", "happy", "house", "marvin",
                 "sheila", "tree", "wow", "one", "two", "three", "four", "five", "six", "seven",
                 "eight", "nine", "zero", "learn", "follow", "forward", "backward", "visual", "yellow"]
UNKNOWN_TEST = ["bottle", "window", "music", "paper", "coffee", "light", "number", "orange",
                "silver", "table"]
SPEED_WPM = (120, 210)     # espeak-ng -s, uniform
PITCH = (25, 75)           # espeak-ng -p, uniform
# Per training voice: renderings (speed/pitch draws) per keyword, augmented copies of each,
# unknown words, silence clips. Test: renderings per keyword, one copy each.
TRAIN_RENDERINGS, TRAIN_COPIES, TRAIN_UNKNOWN_PER_VOICE = 3, 2, 8
N_TRAIN_SILENCE = 450
TEST_RENDERINGS = 4
N_TEST_SILENCE = 60
VAL_FRACTION = 0.1
N_REPRESENTATIVE = 400
CHANNELS = 64
ALLOWED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED",
               "SOFTMAX"}
N_SAMPLES_PER = {"yes": 1, "down": 1, "left": 1, UNKNOWN: 1, SILENCE: 1}


# ----------------------------------------------------------------------------------------
# 1. Synthesis
# ----------------------------------------------------------------------------------------
def espeak(text, voice, speed, pitch):
    """espeak-ng speech as float64 at 16 kHz, trimmed (2 % of peak) and peak-normalized."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", tmp.name, text],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with wave.open(tmp.name) as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise SystemExit(f"FATAL: espeak-ng wrote {w.getnchannels()} channels, {w.getsampwidth()} bytes")
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    if x.size == 0 or np.abs(x).max() == 0:
        raise SystemExit(f"FATAL: espeak-ng produced silence for {text!r} with voice {voice}")
    x = resample(x, rate, FS)
    peak = np.abs(x).max()
    idx = np.where(np.abs(x) >= 0.02 * peak)[0]
    x = x[idx[0]:idx[-1] + 1]
    return x / np.abs(x).max()


def resample(x, fs_in, fs_out):
    """Band-limited resampling by FFT (zero-padded against wrap-around)."""
    if fs_in == fs_out:
        return x
    pad = 2048
    xp = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    n_out = int(round(xp.size * fs_out / fs_in))
    spec = np.fft.rfft(xp)
    keep = min(spec.size, n_out // 2 + 1)
    y = np.fft.irfft(spec[:keep], n_out) * (n_out / xp.size)
    p_out = int(round(pad * fs_out / fs_in))
    return y[p_out:p_out + int(round(x.size * fs_out / fs_in))]


def colored_noise(rng, n, kind):
    if kind == "white":
        return rng.standard_normal(n)
    if kind in ("pink", "brown"):
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        spec /= np.sqrt(f) if kind == "pink" else f
        spec[0] = 0.0
        return np.fft.irfft(spec, n)
    if kind == "hum":
        t = np.arange(n) / FS
        f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.99, 1.01)
        x = sum(rng.uniform(0.1, 1.0) / h * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi))
                for h in range(1, 9))
        return x + 0.05 * rng.standard_normal(n)
    if kind == "band":  # fan / engine-like band-limited noise
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / FS)
        lo = rng.uniform(50, 1500)
        hi = lo * rng.uniform(1.5, 6)
        spec[(f < lo) | (f > hi)] *= 0.05
        return np.fft.irfft(spec, n)
    raise ValueError(kind)


NOISE_KINDS = ["white", "pink", "brown", "hum", "band"]


def rms(x):
    return float(np.sqrt(np.mean(x ** 2)))


def to_int16(x):
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def place_word(rng, word):
    """The word at a random position in 1 s (cropped around its centre if longer)."""
    if word.size > CLIP:
        start = (word.size - CLIP) // 2 + int(rng.integers(-800, 801))
        start = min(max(start, 0), word.size - CLIP)
        return word[start:start + CLIP].copy()
    out = np.zeros(CLIP)
    off = int(rng.integers(0, CLIP - word.size + 1))
    out[off:off + word.size] = word
    return out


def speech_clip(rng, word):
    """A word clip: random gain, time shift and background (noise at 3-35 dB SNR in 80 % of
    clips, a 1-3 LSB noise floor in 14 %, digital silence around the word in 6 %)."""
    x = place_word(rng, word) * rng.uniform(0.05, 0.9) * 32767
    u = rng.uniform()
    if u < 0.80:
        kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
        n = colored_noise(rng, CLIP, kind)
        snr_db = rng.uniform(3, 35)
        n *= rms(x[x != 0]) / (rms(n) * 10 ** (snr_db / 20))
        return to_int16(x + n), f"{kind} noise, SNR {snr_db:.0f} dB"
    if u < 0.94:
        return to_int16(x + rng.standard_normal(CLIP) * rng.uniform(1, 3)), "1-3 LSB noise floor"
    return to_int16(x), "digital silence around the word"


def silence_clip(rng):
    """Background only: one or two noise kinds at any level (the front end normalizes by the
    maximum), or in 5 % of clips a level of 0-2 LSB including digital zero."""
    if rng.uniform() < 0.05:
        return to_int16(rng.standard_normal(CLIP) * rng.uniform(0, 2))
    x = colored_noise(rng, CLIP, NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))])
    if rng.uniform() < 0.4:
        y = colored_noise(rng, CLIP, NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))])
        x = x / rms(x) + rng.uniform(0.1, 1.0) * y / rms(y)
    level = float(np.exp(rng.uniform(np.log(2.0), np.log(8000.0))))  # RMS in LSB
    return to_int16(x / rms(x) * level)


def plan(rng, accents, variants, words_per_voice, renderings, unknown_words, unknown_per_voice):
    """espeak-ng jobs: (label, text, voice, speed, pitch)."""
    jobs = []
    for a in accents:
        for v in variants:
            voice = f"{a}+{v}"
            for w in words_per_voice:
                for _ in range(renderings):
                    jobs.append((w, w, voice, int(rng.integers(*SPEED_WPM, endpoint=True)),
                                 int(rng.integers(*PITCH, endpoint=True))))
            pick = rng.choice(len(unknown_words), size=unknown_per_voice, replace=False)
            for i in sorted(pick):
                jobs.append((UNKNOWN, unknown_words[i], voice, int(rng.integers(*SPEED_WPM, endpoint=True)),
                             int(rng.integers(*PITCH, endpoint=True))))
    return jobs


def synthesize(jobs, copies, n_silence, seed):
    """Runs espeak-ng for every job (2 at a time), then augments in job order with per-clip
    seeds, so the result does not depend on scheduling. Returns clips int16 [n, 16000],
    labels, and a description per clip."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        words = list(ex.map(lambda j: espeak(j[1], j[2], j[3], j[4]), jobs))
    clips, labels, meta = [], [], []
    for k, (job, word) in enumerate(zip(jobs, words)):
        label, text, voice, speed, pitch = job
        n_copies = copies if label != UNKNOWN else 1
        for c in range(n_copies):
            rng = np.random.default_rng([seed, k, c])
            clip, background = speech_clip(rng, word)
            clips.append(clip)
            labels.append(LABELS.index(label))
            meta.append({"label": label, "text": text, "voice": voice, "speed": speed, "pitch": pitch,
                         "background": background})
    for s in range(n_silence):
        rng = np.random.default_rng([seed, 1_000_000 + s])
        clips.append(silence_clip(rng))
        labels.append(LABELS.index(SILENCE))
        meta.append({"label": SILENCE, "text": "", "voice": "", "speed": 0, "pitch": 0,
                     "background": "noise only"})
    return np.stack(clips), np.array(labels, dtype=np.int64), meta


def write_wav(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(FS)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


# ----------------------------------------------------------------------------------------
# 2. Features: edgeplug's Rust front end
# ----------------------------------------------------------------------------------------
def rust_features(clips, workdir, name, quant=None):
    """float32 [n,49,10] (and int8 [n,49,10] with quant=(scale, zero_point)) from
    `edgeplug_dsp::KwsFrontend` through the kws_features example."""
    wav = os.path.join(workdir, f"{name}.wav")
    write_wav(wav, clips.reshape(-1))
    f32 = os.path.join(workdir, f"{name}.f32")
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "edgeplug-dsp", "--example", "kws_features", "--",
           "--split", "--out", f32]
    i8 = os.path.join(workdir, f"{name}.i8")
    if quant is not None:
        cmd += ["--int8-out", i8, "--scale", repr(float(quant[0])), "--zero-point", str(int(quant[1]))]
    subprocess.run(cmd + [wav], check=True, cwd=ROOT)
    feats = np.fromfile(f32, "<f4").reshape(-1, FRAMES, COEFFS)
    if feats.shape[0] != clips.shape[0]:
        raise SystemExit(f"FATAL: {feats.shape[0]} feature rows for {clips.shape[0]} clips")
    if quant is None:
        return feats
    q = np.fromfile(i8, np.int8).reshape(-1, FRAMES, COEFFS)
    return feats, q


# ----------------------------------------------------------------------------------------
# 3. Model
# ----------------------------------------------------------------------------------------
def build_model(batch_size=None):
    L = tf.keras.layers
    inp = tf.keras.Input(shape=(FRAMES, COEFFS, 1), batch_size=batch_size, name="mfcc")
    x = L.Conv2D(CHANNELS, (10, 4), strides=(2, 2), padding="same", use_bias=False, name="conv1")(inp)
    x = L.BatchNormalization(name="conv1_bn")(x)
    x = L.ReLU(name="conv1_relu")(x)                                   # 25 x 5 x C
    for b in range(4):
        n = f"ds{b + 1}"
        x = L.DepthwiseConv2D((3, 3), padding="same", use_bias=False, name=n + "_dw")(x)
        x = L.BatchNormalization(name=n + "_dw_bn")(x)
        x = L.ReLU(name=n + "_dw_relu")(x)
        x = L.Conv2D(CHANNELS, (1, 1), use_bias=False, name=n + "_pw")(x)
        x = L.BatchNormalization(name=n + "_pw_bn")(x)
        x = L.ReLU(name=n + "_pw_relu")(x)
    x = L.AveragePooling2D((25, 5), name="avg")(x)                     # AVERAGE_POOL_2D, not MEAN
    x = L.Flatten(name="flatten")(x)
    x = L.Dropout(0.2, name="dropout")(x)
    x = L.Dense(len(LABELS), name="logits")(x)
    out = L.Softmax(name="softmax")(x)
    return tf.keras.Model(inp, out, name="kws_demo_dscnn")


def convert_int8(model, rep_x):
    fixed = build_model(batch_size=1)
    fixed.set_weights(model.get_weights())
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def rep():
        for i in range(rep_x.shape[0]):
            yield [rep_x[i:i + 1]]

    converter.representative_dataset = rep
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def parse_ops(tfl_bytes):
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tfl_bytes, 0))
    sg = m.subgraphs[0]
    ops = []
    for op in sg.operators:
        oc = m.operatorCodes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        ops.append({"op": _BUILTIN_NAMES.get(code, f"BUILTIN_{code}"), "version": int(oc.version),
                    "inputs": [int(i) for i in op.inputs], "outputs": [int(i) for i in op.outputs]})
    shapes = [[int(s) for s in t.shape] if t.shape is not None else [] for t in sg.tensors]
    return ops, shapes


def count_params_macs(ops, shapes):
    macs = params = 0
    for o in ops:
        if o["op"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        w, out = shapes[o["inputs"][1]], shapes[o["outputs"][0]]
        params += int(np.prod(w))
        if len(o["inputs"]) > 2 and o["inputs"][2] >= 0:
            params += int(np.prod(shapes[o["inputs"][2]]))
        if o["op"] == "CONV_2D":
            macs += int(np.prod(out)) * w[1] * w[2] * w[3]
        elif o["op"] == "DEPTHWISE_CONV_2D":
            macs += int(np.prod(out)) * w[1] * w[2]
        else:
            macs += int(np.prod(out)) * w[1]
    return macs, params


class Tflm:
    def __init__(self, tfl_bytes):
        self.it = tflm_runtime.Interpreter.from_bytes(tfl_bytes)

    def run(self, q):
        self.it.set_input(q.reshape(1, FRAMES, COEFFS, 1), 0)
        self.it.invoke()
        return np.array(self.it.get_output(0), dtype=np.int8).reshape(-1)


def quantize_trunc(x, scale, zp):
    """numpy copy of edgeplug_dsp's `Quant::quantize_trunc` (f32 divide, f32 add, truncate,
    saturate), used only to cross-check the Rust int8 features."""
    v = np.asarray(x, np.float32) / np.float32(scale) + np.float32(zp)
    return np.clip(np.trunc(v), -128, 127).astype(np.int8)


def confusion(y_true, y_pred):
    cm = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    return cm


def cm_markdown(cm):
    head = "| true \\ predicted | " + " | ".join(f"`{l}`" for l in LABELS) + " | recall |"
    sep = "|---|" + "---:|" * (len(LABELS) + 1)
    rows = [f"| `{LABELS[i]}` | " + " | ".join(str(int(v)) for v in cm[i]) +
            f" | {cm[i, i] / max(1, cm[i].sum()):.3f} |" for i in range(len(LABELS))]
    return "\n".join([head, sep] + rows)


# ----------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE, help="output directory (default: next to this script)")
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    out_dir = os.path.abspath(args.out)
    sdir = os.path.join(out_dir, "samples")
    os.makedirs(sdir, exist_ok=True)
    if shutil.which("espeak-ng") is None:
        raise SystemExit("FATAL: espeak-ng not found (Debian/Ubuntu: sudo apt-get install -y espeak-ng)")
    espeak_version = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True,
                                    text=True).stdout.strip()
    t_start = time.time()

    random.seed(SEED)
    np.random.seed(SEED)
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(2)

    # ---- 1. data
    rng = np.random.default_rng(DATA_SEED)
    train_jobs = plan(rng, TRAIN_ACCENTS, TRAIN_VARIANTS, KEYWORDS, TRAIN_RENDERINGS,
                      UNKNOWN_TRAIN, TRAIN_UNKNOWN_PER_VOICE)
    test_jobs = plan(rng, TEST_ACCENTS, TEST_VARIANTS, KEYWORDS, TEST_RENDERINGS,
                     UNKNOWN_TEST, len(UNKNOWN_TEST))
    print(f"espeak-ng: {len(train_jobs)} training and {len(test_jobs)} test utterances ...", flush=True)
    clips_all, y_all, meta_all = synthesize(train_jobs, TRAIN_COPIES, N_TRAIN_SILENCE, DATA_SEED)
    clips_test, y_test, meta_test = synthesize(test_jobs, 1, N_TEST_SILENCE, DATA_SEED + 1)
    t_synth = time.time() - t_start
    print(f"synthesized in {t_synth:.0f} s: {len(y_all)} training, {len(y_test)} test clips", flush=True)

    # ---- 2. features (Rust front end)
    with tempfile.TemporaryDirectory() as work:
        t0 = time.time()
        x_all = rust_features(clips_all, work, "train")
        x_test_f = rust_features(clips_test, work, "test")
        t_feat = time.time() - t0
        print(f"features (edgeplug_dsp::KwsFrontend) in {t_feat:.0f} s, incl. cargo build", flush=True)

        perm = np.random.default_rng(SEED).permutation(len(y_all))
        n_val = int(round(VAL_FRACTION * len(y_all)))
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        x_train, y_train = x_all[tr_idx, ..., None], y_all[tr_idx]
        x_val, y_val = x_all[val_idx, ..., None], y_all[val_idx]
        counts = {l: (int((y_all == i).sum()), int((y_test == i).sum())) for i, l in enumerate(LABELS)}
        print("clips per label (train+val, test):", counts)

        # ---- 3. train
        t0 = time.time()
        model = build_model()
        steps = int(np.ceil(len(y_train) / 64)) * args.epochs
        lr = tf.keras.optimizers.schedules.CosineDecay(3e-3, steps, alpha=0.02)
        model.compile(optimizer=tf.keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=64,
                  shuffle=True, verbose=2)
        t_train = time.time() - t0
        p_float = model.predict(x_test_f[..., None], batch_size=256, verbose=0)
        yp_float = p_float.argmax(1)
        acc_float = float((yp_float == y_test).mean())
        print(f"trained in {t_train:.0f} s; float Keras held-out accuracy {acc_float:.4f}", flush=True)

        # ---- 4. convert + check
        rep_idx = np.sort(np.random.default_rng(SEED + 1).choice(len(y_train), N_REPRESENTATIVE, replace=False))
        tfl = convert_int8(model, x_train[rep_idx])
        ops, shapes = parse_ops(tfl)
        bad = sorted({o["op"] for o in ops} - ALLOWED_OPS)
        if bad:
            raise SystemExit(f"FATAL: ops outside the allowed set: {bad}")
        op_set = sorted({f'{o["op"]}/v{o["version"]}' for o in ops})
        macs, params = count_params_macs(ops, shapes)
        lrt = LiteRTInterpreter(model_content=tfl, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        ind, outd = lrt.get_input_details()[0], lrt.get_output_details()[0]
        if ind["dtype"] != np.int8 or outd["dtype"] != np.int8:
            raise SystemExit("FATAL: model I/O must be int8")
        if list(ind["shape"]) != [1, FRAMES, COEFFS, 1] or list(outd["shape"]) != [1, len(LABELS)]:
            raise SystemExit(f"FATAL: unexpected I/O shapes {ind['shape']} / {outd['shape']}")
        in_scale, in_zp = float(ind["quantization"][0]), int(ind["quantization"][1])
        out_scale, out_zp = float(outd["quantization"][0]), int(outd["quantization"][1])
        print(f"int8 model: {len(tfl)} bytes, {macs} MACs, {params} params; input scale {in_scale!r} zp {in_zp}; "
              f"output scale {out_scale!r} zp {out_zp}; ops {op_set}", flush=True)

        # ---- 5. int8 evaluation on the plugin's own int8 inputs
        _, q_test = rust_features(clips_test, work, "test", quant=(in_scale, in_zp))
    if not np.array_equal(q_test, quantize_trunc(x_test_f, in_scale, in_zp)):
        raise SystemExit("FATAL: Rust int8 features differ from quantize_trunc of the Rust float features")
    tflm = Tflm(tfl)
    out_tflm = np.stack([tflm.run(q) for q in q_test])
    yp = out_tflm.argmax(1)
    acc = float((yp == y_test).mean())
    cm = confusion(y_test, yp)
    agree = int((yp == yp_float).sum())
    print(f"int8 TFLM held-out accuracy {acc:.4f} (float/int8 argmax agree on {agree}/{len(y_test)})")
    print(cm_markdown(cm))
    by_voice = {}
    for m, t, p in zip(meta_test, y_test, yp):
        if m["voice"]:
            c = by_voice.setdefault(m["voice"], [0, 0])
            c[0] += int(t == p)
            c[1] += 1

    # ---- 6. outputs
    tfl_path = os.path.join(out_dir, MODEL_FILE)
    with open(tfl_path, "wb") as f:
        f.write(tfl)
    sha = hashlib.sha256(tfl).hexdigest()
    with open(os.path.join(out_dir, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    samples = []
    for lab, n in N_SAMPLES_PER.items():
        ci = LABELS.index(lab)
        ok = np.array([i for i in np.where((y_test == ci) & (yp == ci) & (yp_float == ci))[0]
                       if "noise" in meta_test[i]["background"]], dtype=np.int64)
        if ok.size == 0:
            raise SystemExit(f"FATAL: no correctly classified held-out clip with background noise for {lab}")
        # prefer a confident but unsaturated top score
        score = out_tflm[ok, ci].astype(np.int32)
        cand = ok[(score >= 70) & (score <= 120)]
        if cand.size == 0:
            cand = ok
        for i in cand[:n]:
            i = int(i)
            fname = f"{lab.strip('_')}.wav"
            write_wav(os.path.join(sdir, fname), clips_test[i])
            y = out_tflm[i]
            samples.append({
                "file": fname, "expected_label": lab, "spoken": meta_test[i]["text"],
                "voice": meta_test[i]["voice"], "speed_wpm": meta_test[i]["speed"],
                "pitch": meta_test[i]["pitch"], "background": meta_test[i]["background"],
                "tflm_output_int8": [int(v) for v in y],
                "tflm_label": LABELS[int(y.argmax())],
                "tflm_score": (int(y.max()) - out_zp) * out_scale,
            })
            print(f"  sample {fname}: {meta_test[i]}, TFLM {list(map(int, y))}")
    # The same samples through edgeplug's own executor, natively, as the plugin computes them.
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "edgeplug-dsp", "--example", "kws_classify", "--",
           tfl_path, "--labels", os.path.join(out_dir, "labels.txt")]
    res = subprocess.run(cmd + [os.path.join(sdir, x["file"]) for x in samples], check=True, cwd=ROOT,
                         capture_output=True, text=True)
    ours = [json.loads(line) for line in res.stdout.splitlines()]
    if [o["output_int8"] for o in ours] != [x["tflm_output_int8"] for x in samples]:
        raise SystemExit(f"FATAL: edgeplug's executor differs from TFLM on the samples: {ours}")
    print("edgeplug executor (kws_classify example) output == TFLM output on every sample")
    meta = {
        "model": MODEL_FILE, "model_sha256": sha, "labels": LABELS,
        "input": {"shape": [1, FRAMES, COEFFS, 1], "dtype": "int8", "scale": in_scale, "zero_point": in_zp,
                  "features": "edgeplug_dsp::KwsFrontend MFCC [49 frames][10 coeffs] of 1 s of 16 kHz mono int16",
                  "quantization": "edgeplug_dsp Quant::quantize_trunc: int8(trunc(f32(x / scale) + zero_point)), saturated"},
        "output": {"shape": [1, len(LABELS)], "dtype": "int8", "scale": out_scale, "zero_point": out_zp},
        "reference_runtime": "tflite-micro " + tflm_version_mod.__version__,
        "samples": samples,
    }
    with open(os.path.join(sdir, "samples.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    n_test = len(y_test)
    card = {
        "intended_use": "Demonstrating and testing edgeplug: spots the keywords " + ", ".join(KEYWORDS) +
                        " (plus _silence_ and _unknown_) in 1 s of 16 kHz mono audio. Trained on synthetic "
                        "espeak-ng speech only; not for real voice interfaces.",
        "training_data": f"Synthetic only: espeak-ng speech and generated noise made by demo/kws/train.py "
                         f"({len(y_all)} clips from {len(TRAIN_ACCENTS) * len(TRAIN_VARIANTS)} voices); "
                         "features from edgeplug_dsp::KwsFrontend.",
        "metrics": [
            {"name": "accuracy (int8, TensorFlow Lite Micro)", "value": round(acc, 4),
             "dataset": f"{n_test} held-out synthetic clips (unseen voices and unknown words)"},
            {"name": "accuracy (float Keras)", "value": round(acc_float, 4),
             "dataset": f"{n_test} held-out synthetic clips (unseen voices and unknown words)"},
        ],
        "limitations": "Synthetic speech from one engine: accuracy says nothing about real speakers, "
                       "microphones or rooms. 1 s windows at 16 kHz only.",
        "license": "Apache-2.0",
        "authors": ["the edgeplug authors"],
    }
    with open(os.path.join(out_dir, "card.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    versions = {
        "python": platform.python_version(), "tensorflow": tf.__version__,
        "keras": importlib.metadata.version("keras"), "numpy": np.__version__,
        "tflite-micro": tflm_version_mod.__version__,
        "ai-edge-litert": importlib.metadata.version("ai-edge-litert"),
        "espeak-ng": espeak_version.split("Data at")[0].strip().split()[-1],
        "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.split()[1],
    }
    t_total = time.time() - t_start
    stats = dict(acc=acc, acc_float=acc_float, cm=cm, n_test=n_test, agree=agree, by_voice=by_voice,
                 n_train=len(y_train), n_val=len(y_val), counts=counts, macs=macs, params=params,
                 ops=ops, shapes=shapes, op_set=op_set, in_scale=in_scale, in_zp=in_zp, out_scale=out_scale,
                 out_zp=out_zp, size=len(tfl), sha=sha, epochs=args.epochs,
                 keras_params=int(model.count_params()), samples=samples, t_total=t_total,
                 t_train=t_train, n_train_utt=len(train_jobs), n_test_utt=len(test_jobs))
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w") as f:
        f.write(model_card(stats, versions))
    print(f"wrote {tfl_path}: {len(tfl)} bytes, sha256 {sha}")
    print(f"done in {t_total:.0f} s; outputs in {out_dir}")


def model_card(s, v):
    voices_tr = ", ".join(f"`{a}`" for a in TRAIN_ACCENTS)
    var_tr = ", ".join(f"`{x}`" for x in TRAIN_VARIANTS)
    voices_te = ", ".join(f"`{a}`" for a in TEST_ACCENTS)
    var_te = ", ".join(f"`{x}`" for x in TEST_VARIANTS)
    op_rows = "\n".join(
        f'| {i} | {o["op"]} | v{o["version"]} | {[s["shapes"][t] for t in o["inputs"] if t >= 0]} | '
        f'{[s["shapes"][t] for t in o["outputs"]]} |' for i, o in enumerate(s["ops"]))
    voice_rows = "\n".join(f"| `{k}` | {c[0]}/{c[1]} |" for k, c in sorted(s["by_voice"].items()))
    sample_rows = "\n".join(
        f'| `samples/{x["file"]}` | `{x["expected_label"]}` | "{x["spoken"]}" | `{x["voice"] or "-"}` | '
        f'{x["tflm_output_int8"]} | {x["tflm_score"]:.4f} |' for x in s["samples"])
    counts = ", ".join(f"`{k}` {a}/{b}" for k, (a, b) in s["counts"].items())
    return f"""# Model card: `{MODEL_FILE}` (edgeplug demo keyword spotter)

A small int8 DS-CNN that spots six keywords in one second of 16 kHz mono audio. It exists so that
edgeplug's main demo (`edgeplug demo`) runs on a fresh checkout with nothing else installed.
**It is a demo: it was trained only on synthetic speech (espeak-ng).**

- File: `demo/kws/{MODEL_FILE}`, {s["size"]:,} bytes, sha256 `{s["sha"]}`
- Made by: `demo/kws/train.py` (this card, `labels.txt`, `card.json` and `samples/` come from the same run)
- License: Apache-2.0, the same as edgeplug. All data is synthesized by the script; espeak-ng
  (GPL-3.0-or-later) is only run as a tool and not distributed. No third-party data or weights.

## Intended use

Demonstrating and testing edgeplug end to end: the KWS plugin computes the MFCC features with
`edgeplug_dsp::KwsFrontend`, quantizes them with this model's input scale and zero point, and runs the
model with edgeplug's executor (bit-exact with TensorFlow Lite Micro). Not for real voice interfaces, and not for anything where
a missed or false detection matters.

## No train/serve skew

The training features are computed by the same Rust code the plugin runs: `train.py` writes the clips
to a WAV file and calls `cargo run --release -p edgeplug-dsp --example kws_features`
(`guest-sdk/dsp/examples/kws_features.rs`, which calls `KwsFrontend::compute_f32`). The held-out
evaluation feeds TFLM the int8 inputs from the same example with `--scale/--zero-point` set to the
model's input quantization (`KwsFrontend::with_quantization(...).compute`, i.e. `Quant::quantize_trunc`,
which truncates toward zero), exactly what the plugin computes.

## Input and output

| | shape | dtype | scale | zero point | meaning |
|---|---|---|---|---|---|
| input | [1, 49, 10, 1] | int8 | {s["in_scale"]!r} | {s["in_zp"]} | MFCC [49 frames][10 coefficients] of 1 s of 16 kHz audio (`edgeplug_dsp` KWS front end, the MLPerf Tiny `tf.signal` recipe) |
| output | [1, {len(LABELS)}] | int8 | {s["out_scale"]!r} | {s["out_zp"]} | softmax probabilities, p = (q - zp) * scale |

The layout is the MLPerf Tiny KWS model's, so the same KWS plugin guest runs either model; only the
input quantization and the labels differ. Input quantization (the plugin's):
`q = int8(trunc(f32(f32(x) / scale) + zero_point))`, saturated to [-128, 127].

Labels (output index order, also in `labels.txt`): {", ".join(f"{i}. `{l}`" for i, l in enumerate(LABELS))}.

## Synthetic data recipe (`train.py`)

- Speech: `espeak-ng -v <accent>+<variant> -s <speed> -p <pitch> -w out.wav <word>`; speed uniform
  {SPEED_WPM[0]}-{SPEED_WPM[1]} words/min, pitch uniform {PITCH[0]}-{PITCH[1]}. The 22.05 kHz output is resampled to 16 kHz
  (FFT, band-limited), trimmed where below 2 % of its peak, peak-normalized.
- Voices (a voice is accent + variant): training accents {voices_tr} x variants {var_tr}
  ({len(TRAIN_ACCENTS) * len(TRAIN_VARIANTS)} voices); **held-out test voices: accents {voices_te} x variants {var_te}
  ({len(TEST_ACCENTS) * len(TEST_VARIANTS)} voices): no test accent and no test variant occurs in training.**
- Keywords: {", ".join(f"`{k}`" for k in KEYWORDS)}. Training: {TRAIN_RENDERINGS} renderings per keyword and voice, {TRAIN_COPIES} augmented
  copies each. Test: {TEST_RENDERINGS} renderings per keyword and voice.
- `_unknown_`: other words. Training: {TRAIN_UNKNOWN_PER_VOICE} per voice drawn from {len(UNKNOWN_TRAIN)} words ({", ".join(UNKNOWN_TRAIN)}).
  **Test: {len(UNKNOWN_TEST)} words never used in training** ({", ".join(UNKNOWN_TEST)}), each in every test voice.
- Clip: the word at a uniformly random position in 1 s (16000 samples; centre-cropped if longer), gain
  0.05-0.9 of full scale; then in 80 % of clips background noise (white, pink, brown, 50/60 Hz hum with
  harmonics, or band-limited noise) at an SNR uniform in 3-35 dB, in 14 % a 1-3 LSB noise floor, in 6 %
  digital silence around the word. int16, rounded and clipped.
- `_silence_`: background only (one kind, or two mixed in 40 %), RMS log-uniform 2-8000 LSB (the front
  end normalizes by the clip maximum, so the level matters little); 5 % are 0-2 LSB noise including
  digital zero. Training {N_TRAIN_SILENCE}, test {N_TEST_SILENCE} clips.
- Seeds: synthesis plan and augmentation `{DATA_SEED}` (each clip uses its own seed derived from it; the
  test split `{DATA_SEED + 1}`), training `{SEED}`. Validation: a random {VAL_FRACTION:.0%} of the training voices' clips.
- Clips (train+val / test): {counts}. Train {s["n_train"]}, validation {s["n_val"]}, test {s["n_test"]}.

## Architecture

DS-CNN in the shape of MLPerf Tiny's KWS model ({CHANNELS} channels): Conv2D {CHANNELS} (10x4, stride 2, SAME) + BN + ReLU,
4 x (DepthwiseConv2D 3x3 SAME + BN + ReLU, Conv2D {CHANNELS} 1x1 + BN + ReLU), AveragePooling2D (25x5),
Flatten, Dropout 0.2, Dense {len(LABELS)}, Softmax. {s["keras_params"]:,} Keras parameters (including BatchNorm statistics).
Trained {s["epochs"]} epochs, Adam with cosine decay from 3e-3, batch 64.

Converted with the TFLite converter to full-integer int8 (`Optimize.DEFAULT`, representative dataset of
{N_REPRESENTATIVE} training clips' float features, `TFLITE_BUILTINS_INT8`, int8 input and output).

- **MACs: {s["macs"]:,}**; **params: {s["params"]:,}** (int8 weights + int32 biases)
- Op set: {", ".join(s["op_set"])}. `train.py` fails on any other op.

| # | op | version | inputs | outputs |
|---|---|---|---|---|
{op_rows}

## Evaluation (held-out split: unseen voices and unseen unknown words, {s["n_test"]} clips)

| runtime | accuracy |
|---|---|
| float Keras (float features) | {s["acc_float"]:.4f} |
| **int8, TensorFlow Lite Micro, on the plugin's int8 inputs** | **{s["acc"]:.4f}** |

Float and int8 argmax agree on {s["agree"]}/{s["n_test"]} clips. Confusion matrix, int8 TFLM:

{cm_markdown(s["cm"])}

Per test voice (keywords and unknown words, int8 TFLM):

| voice | correct |
|---|---|
{voice_rows}

## Samples (`samples/`)

1 s WAVs (16 kHz mono int16) from the held-out split, each classified correctly by the float and int8 models.
`samples/samples.json` lists each file's expected label and TFLM's int8 output on the plugin's int8
features; `train.py` fails unless edgeplug's own executor gives the same outputs
(`cargo run --release -p edgeplug-dsp --example kws_classify`), and `edgeplug demo` runs them through
the KWS plugin.

| file | expected label | spoken | voice | TFLM int8 output | score |
|---|---|---|---|---|---|
{sample_rows}

## Limitations

- Synthetic speech from one formant synthesizer: no real speakers, microphones, rooms, far-field audio
  or accents beyond espeak-ng's. Accuracy here says nothing about real speech.
- Six keywords; the unknown-word set is small, so many other words will be taken for a keyword.
- One-second windows at 16 kHz only; the front end normalizes each window by its maximum sample.

## Retrain (one command)

From the repository root, after `sudo apt-get install -y espeak-ng` (Debian/Ubuntu; needs a Rust
toolchain for the feature example):

```
python3 -m venv demo/.venv && demo/.venv/bin/pip install -r demo/kws/requirements.txt && demo/.venv/bin/python demo/kws/train.py
```

It takes 6-8 minutes on 2 cores (about 2 minutes of espeak-ng synthesis, 4-5 minutes of training; the
script prints its timings). Everything is seeded (python, numpy, TensorFlow with `enable_op_determinism`,
per-clip augmentation seeds): two runs on the machine that made the committed files gave byte-identical
`.tflite`, `samples/`, `labels.txt`, `card.json` and this card. A different CPU or other library or
espeak-ng versions can change the bytes of a rebuilt model; the committed files are the reference.

Tool versions of the run that wrote this card: {", ".join(f"{k} {val}" for k, val in v.items())}.
"""


if __name__ == "__main__":
    main()
