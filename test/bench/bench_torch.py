#!/usr/bin/python3
"""bench_torch.py [--weights FILE] [--runs N] [--c-lib LIB] [--c-descriptor FILE] [--c-ms MS]

The recognition net (spec section 2) in PyTorch, built from the same
build/faceid_weights.bin that faceid mmaps (recognition tensors stored folded:
filters [k,k,cin,cout] HWIO and bias [cout], see src/tools/convert_weights.js).

1. Checks the PyTorch descriptor on the deterministic input
   pixel(x,y,c) = (x*7 + y*13 + c*50) % 256 (150x150, normalised per spec 2.1)
   against ../shared/golden/out/layers_recognition.json and, when given,
   against the C net's descriptor (128 float32 from bench_recognition --dump).
2. Times it with torch.set_num_threads(1), batch 1, median of >= 30 runs after
   warm-up: eager, and a frozen TorchScript graph (torch.jit.freeze +
   torch.jit.optimize_for_inference, oneDNN where available).
3. With --c-lib (the core built as a shared library by
   run_bench_recognition.sh) the C net runs in this process through ctypes,
   interleaved run by run with the two PyTorch variants (C, eager, frozen,
   C, ...), so a busy machine slows all three alike, and the ratio
   faceid / PyTorch-best of those medians is printed.  faceid loads first, so
   it picks OpenBLAS's kernel set (torch then gets the same library).
   (--c-ms: a median measured elsewhere, used only without --c-lib.)

Run it with the system python (/usr/bin/python3 and Debian's python3-torch).
"""
import argparse
import json
import os
import statistics
import struct
import sys
import time
import warnings

import ctypes

import numpy as np

torch = None                    # imported in main(), after faceid has loaded OpenBLAS

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
GOLDEN = os.path.join(REPO, '..', 'shared', 'golden', 'out', 'layers_recognition.json')
if not os.path.exists(GOLDEN):
    GOLDEN = '/work/shared/golden/out/layers_recognition.json'

BLOCKS = [  # name, cin, cout, down (spec 2.3)
    ('conv32_1', 32, 32, False), ('conv32_2', 32, 32, False), ('conv32_3', 32, 32, False),
    ('conv64_down', 32, 64, True),
    ('conv64_1', 64, 64, False), ('conv64_2', 64, 64, False), ('conv64_3', 64, 64, False),
    ('conv128_down', 64, 128, True),
    ('conv128_1', 128, 128, False), ('conv128_2', 128, 128, False),
    ('conv256_down', 128, 256, True),
    ('conv256_1', 256, 256, False), ('conv256_2', 256, 256, False),
    ('conv256_down_out', 256, 256, True),
]


def read_weights(path):
    """Header + table of the faceid weights file -> {name: float32 ndarray}."""
    with open(path, 'rb') as f:
        buf = f.read()
    magic, version, n, total = struct.unpack_from('<8sIIQ', buf, 0)
    table_off, data_off = struct.unpack_from('<QQ', buf, 32)
    if magic != b'FACEIDW\0' or version != 1 or total != len(buf):
        sys.exit('bench_torch: %s is not a version 1 faceid weights file' % path)
    out = {}
    for i in range(n):
        e = table_off + 128 * i
        name = buf[e:e + 80].split(b'\0', 1)[0].decode()
        ndim = struct.unpack_from('<I', buf, e + 80)[0]
        shape = struct.unpack_from('<6I', buf, e + 84)[:ndim]
        off, count = struct.unpack_from('<QQ', buf, e + 112)
        a = np.frombuffer(buf, dtype='<f4', count=count, offset=off)
        out[name] = a.reshape(shape) if ndim else a.reshape(())
    return out


def conv_params(w, name):
    """Folded conv 'recognition/<name>' as (OIHW weight, bias) tensors."""
    f = w['recognition/%s/filters' % name]          # [k,k,cin,cout] HWIO
    b = w['recognition/%s/bias' % name]
    return (torch.from_numpy(np.ascontiguousarray(f.transpose(3, 2, 0, 1))),
            torch.from_numpy(np.array(b)))


class CNet:
    """The faceid C net through ctypes: fi_model_open + fi_recognition_forward."""

    def __init__(self, lib, weights):
        self.lib = L = ctypes.CDLL(lib)
        self.err = ctypes.create_string_buffer(1024)    # fi_error: int code, char msg[512]
        self.m = ctypes.c_void_p()
        L.fi_workspace_new.restype = ctypes.c_void_p
        L.fi_recognition_forward.argtypes = [ctypes.c_void_p] * 8
        if (L.fi_model_open(weights.encode(), ctypes.byref(self.m), self.err) != 0 or
                L.fi_blas_load(None, self.err) != 0):
            sys.exit('bench_torch: faceid: %s' % self.err.raw[4:516].split(b'\0')[0].decode())
        self.ws = ctypes.c_void_p(L.fi_workspace_new())
        self.out = np.zeros(128, dtype=np.float32)

    def __call__(self, x_nhwc):
        if self.lib.fi_recognition_forward(self.m, self.ws, x_nhwc.ctypes.data,
                                           self.out.ctypes.data, None, None, None,
                                           self.err) != 0:
            sys.exit('bench_torch: faceid forward failed')
        return self.out


def torch_net(torch, F, w):
    """faceRecognitionNet as a torch Module (built here: torch is imported late)."""

    class RecognitionNet(torch.nn.Module):
        """faceRecognitionNet in NCHW with TF padding made explicit."""

        def __init__(self, w):
            super().__init__()
            self.convs = torch.nn.ModuleDict()

            def conv(name, stride, pad):
                wt, b = conv_params(w, name)
                c = torch.nn.Conv2d(wt.shape[1], wt.shape[0], wt.shape[2], stride, pad)
                c.weight.data.copy_(wt)
                c.bias.data.copy_(b)
                self.convs[name.replace('/', '_')] = c

            conv('conv32_down', 2, 0)                       # 7x7/2 VALID
            for name, cin, cout, down in BLOCKS:
                conv(name + '/conv1', 2 if down else 1, 0 if down else 1)  # VALID s2 / SAME s1
                conv(name + '/conv2', 1, 1)                 # 3x3 s1 SAME = pad 1 each side
            self.register_buffer('fc', torch.from_numpy(np.array(w['recognition/fc'])))

        def forward(self, x):
            c = self.convs
            x = F.relu(c['conv32_down'](x))
            x = F.max_pool2d(x, 3, 2)                       # VALID
            for name, cin, cout, down in BLOCKS:
                h = F.relu(c[name + '_conv1'](x))
                h = c[name + '_conv2'](h)
                if down:
                    p = F.avg_pool2d(x, 2, 2)               # VALID, plain mean
                    if cout > cin:                          # zero channels appended
                        p = F.pad(p, (0, 0, 0, 0, 0, cout - cin))
                    dh = p.shape[2] - h.shape[2]
                    dw = p.shape[3] - h.shape[3]
                    if dh or dw:                            # zeros at bottom / right
                        h = F.pad(h, (0, dw, 0, dh))
                    x = F.relu(p + h)
                else:
                    x = F.relu(h + x)
            x = x.mean(dim=(2, 3))
            return x @ self.fc

    return RecognitionNet(w).eval()


def deterministic_input():
    """Spec 2.1 normalisation of pixel(x,y,c) = (x*7+y*13+c*50) % 256, NHWC."""
    y, x, c = np.meshgrid(np.arange(150), np.arange(150), np.arange(3), indexing='ij')
    p = ((x * 7 + y * 13 + c * 50) % 256).astype(np.float32)
    m = np.array([122.782, 117.001, 104.298], dtype=np.float32)
    return np.ascontiguousarray((p - m) / np.float32(255))   # float32 all the way


def time_ms(fns, runs, warm=10):
    """[(median, min)] wall time in ms of each (fn, x), the fns interleaved run by run."""
    for _ in range(warm):
        for fn, x in fns:
            fn(x)
    t = [[] for _ in fns]
    for _ in range(runs):
        for j, (fn, x) in enumerate(fns):
            t0 = time.perf_counter()
            fn(x)
            t[j].append((time.perf_counter() - t0) * 1e3)
    return [(statistics.median(v), min(v)) for v in t]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--weights', default=os.environ.get('FACEID_WEIGHTS') or
                    os.path.join(REPO, 'build', 'faceid_weights.bin'))
    ap.add_argument('--runs', type=int, default=100)
    ap.add_argument('--c-lib')
    ap.add_argument('--c-descriptor')
    ap.add_argument('--c-ms', type=float)
    a = ap.parse_args()
    runs = max(a.runs, 30)

    global torch
    xh = deterministic_input()
    cnet = CNet(a.c_lib, a.weights) if a.c_lib else None
    import torch                                        # after faceid chose the kernel set
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.set_grad_enabled(False)
    net = torch_net(torch, F, read_weights(a.weights))
    x = torch.from_numpy(np.ascontiguousarray(xh.transpose(2, 0, 1)[None]))
    d = net(x)[0].numpy().astype(np.float64)

    print('PyTorch %s, %d thread, oneDNN (mkldnn) %s'
          % (torch.__version__, torch.get_num_threads(),
             'available' if torch.backends.mkldnn.is_available() else 'not available'))
    ok = True
    if os.path.exists(GOLDEN):
        g = np.array(json.load(open(GOLDEN))['descriptor'], dtype=np.float64)
        e = float(np.linalg.norm(d - g))
        ok &= e <= 1e-4
        print('  descriptor vs golden (tfjs wasm): Euclidean diff %.2e, max |diff| %.2e  %s'
              % (e, float(np.abs(d - g).max()), 'ok' if e <= 1e-4 else 'TOO FAR'))
    else:
        print('  (no ../shared/golden: golden descriptor check skipped)')
    cd = None
    if cnet:
        cd = cnet(xh).astype(np.float64)
    elif a.c_descriptor:
        cd = np.fromfile(a.c_descriptor, dtype='<f4').astype(np.float64)
    if cd is not None:
        e = float(np.linalg.norm(d - cd))
        ok &= e <= 1e-4
        print('  descriptor vs faceid C net:       Euclidean diff %.2e, max |diff| %.2e  %s'
              % (e, float(np.abs(d - cd).max()), 'ok' if e <= 1e-4 else 'TOO FAR'))

    # the residualDown padding sizes are constants for the fixed 150x150 input
    warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
    ts = torch.jit.freeze(torch.jit.trace(net, x))
    ts = torch.jit.optimize_for_inference(ts)
    dts = ts(x)[0].numpy().astype(np.float64)
    fns = [(net, x), (ts, x)] + ([(cnet, xh)] if cnet else [])
    res = time_ms(fns, runs)
    eager, frozen = res[0], res[1]
    if cnet:
        print('  faceid C net (ctypes, same process): median %.3f ms, min %.3f ms (%d runs, '
              'interleaved with the two below)' % (res[2][0], res[2][1], runs))
        a.c_ms = res[2][0]
    print('  eager:                         median %.3f ms, min %.3f ms (%d runs)'
          % (eager[0], eager[1], runs))
    print('  frozen TorchScript (oneDNN):   median %.3f ms, min %.3f ms (%d runs); '
          'descriptor vs eager %.1e' % (frozen[0], frozen[1], runs,
                                        float(np.linalg.norm(dts - d))))
    best = min(eager[0], frozen[0])
    if a.c_ms:
        print('  faceid / PyTorch-best = %.3f / %.3f ms = %.2f  (faceid / eager = %.2f)'
              % (a.c_ms, best, a.c_ms / best, a.c_ms / eager[0]))
    if cnet:
        bmin = min(eager[1], frozen[1])
        print('  min / min (the least disturbed run of each; the machine is shared): '
              'faceid / PyTorch-best = %.3f / %.3f ms = %.2f' % (res[2][1], bmin, res[2][1] / bmin))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
