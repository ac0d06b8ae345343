#!/usr/bin/env python3
"""The head's angles in a video of a real face, measured without facecast, and facecast's against them.

    head_reference.py measure VIDEO OUT.csv
        Every frame's yaw, pitch and roll (degrees, the rig's convention) to OUT.csv
        (t_secs,yaw_deg,pitch_deg,roll_deg; empty angles where no face is found).
    head_reference.py compare MOTION.jsonl REF.csv [--from-secs S]
        How `facecast live --head-from VIDEO --motion-out MOTION.jsonl` follows REF.csv: per angle, the
        correlation at the best lag within half a second, that lag and the gain (the live angle's
        least-squares slope on the reference's), from S seconds on (default 1.5: after the half second
        of calibration and the fade-in).

The measure shares nothing with facecast's tracker but the angles' convention: MediaPipe's own Face Mesh
(the TFLite graph of the mediapipe wheel, with its own detection and tracking) finds 468 landmarks in
each frame; 38 of them that move with the skull (forehead, eye corners, nose, cheekbones; not the jaw,
lips or brows) make the person's mean shape over the whole video (generalised Procrustes), which is
turned square on by its eye line and its forehead-to-nose line; each frame's rotation is the
least-squares (Kabsch) fit of that shape to its landmarks, decomposed as the rig composes a head turn,
R = Rz(roll) Rx(pitch) Ry(-yaw): positive yaw turns the nose to the viewer's right, positive pitch tips
it down, positive roll turns the face clockwise on screen. Checked on facecast's own rendering of the
bundled portrait turning (tests/live_head.rs's video, whose angles are known): correlations 0.99 (yaw),
0.91 (pitch), 0.99 (roll), gains 0.93, 1.03, 0.98.

Needs mediapipe 0.10.14 (its legacy Face Mesh solution) with numpy 1.26: scripts/head-reference.sh
makes that virtual environment and runs this on both of .tools/head-video's videos.
"""

import argparse
import json
import math
import sys

import numpy as np

# Face Mesh's landmarks that move with the skull (the same set as facecast's src/portrait/track.rs).
RIGID = [10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 2, 98, 327, 33, 133, 362, 263, 234, 454, 127, 356, 93, 323,
         116, 345, 123, 352, 143, 372, 21, 251, 54, 284, 103, 332, 67, 297]
IX = {k: i for i, k in enumerate(RIGID)}


def normalised(x):
    """Points less their mean, scaled to a unit root-mean-square spread."""
    x = x - x.mean(0)
    return x / np.sqrt((x ** 2).sum(1).mean())


def kabsch(src, dst):
    """The rotation R (3x3) that best carries the centred points `src` onto `dst`: R @ src[i] ~ dst[i]."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def angles(rot):
    """(yaw, pitch, roll) in degrees of a rotation whose columns are the face's axes (across, down, into
    the picture), in the rig's composition Rz(roll) Rx(pitch) Ry(-yaw)."""
    across, down = rot[:, 0], rot[:, 1]
    forward = np.cross(across, down)
    pitch = math.asin(max(-1.0, min(1.0, down[2])))
    yaw = math.atan2(across[2], forward[2])
    roll = math.atan2(-down[0], down[1])
    return [math.degrees(a) for a in (yaw, pitch, roll)]


def measure(video, out):
    import cv2
    import mediapipe as mp

    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False)
    shapes = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        found = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).multi_face_landmarks
        if not found:
            shapes.append(None)
            continue
        lm = found[0].landmark
        # MediaPipe's x and z are in units of the width, y of the height: all to pixels.
        shapes.append(np.array([(lm[i].x * w, lm[i].y * h, lm[i].z * w) for i in RIGID]))
    seen = [normalised(s) for s in shapes if s is not None]
    if not seen:
        sys.exit(f"no face found in {video}")
    # The person's mean shape: align every frame to the running mean, average, again.
    mean = seen[0]
    for _ in range(5):
        mean = normalised(np.mean([(kabsch(s, mean) @ s.T).T for s in seen], 0))
    # Square on: the eye line (outer corners) across, forehead to the base of the nose down.
    across = mean[IX[263]] - mean[IX[33]]
    across /= np.linalg.norm(across)
    down = mean[IX[2]] - mean[IX[10]]
    down -= across * down.dot(across)
    down /= np.linalg.norm(down)
    front = mean @ np.stack([across, down, np.cross(across, down)]).T
    with open(out, "w") as f:
        f.write("t_secs,yaw_deg,pitch_deg,roll_deg\n")
        for k, s in enumerate(shapes):
            t = k / fps
            if s is None:
                f.write(f"{t:.4f},,,\n")
            else:
                yaw, pitch, roll = angles(kabsch(front, normalised(s)))
                f.write(f"{t:.4f},{yaw:.1f},{pitch:.1f},{roll:.1f}\n")
    lost = sum(s is None for s in shapes)
    print(f"{video}: {len(shapes)} frames at {fps:.3f} fps, {lost} without a face -> {out}", file=sys.stderr)


def compare(motion, ref, from_secs):
    live = [json.loads(line) for line in open(motion)]
    table = np.genfromtxt(ref, delimiter=",", skip_header=1)
    t = np.array([r["t_secs"] for r in live])
    for key, col in [("head_yaw_deg", 1), ("head_pitch_deg", 2), ("head_roll_deg", 3)]:
        got = np.array([r["params"][key] for r in live])
        face = ~np.isnan(table[:, col])
        rt, rv = table[face, 0], table[face, col]
        best = (-2.0, 0.0, 0.0)
        for lag in np.arange(-0.5, 0.5001, 0.01):
            keep = (t > from_secs) & (t - lag >= rt[0]) & (t - lag <= rt[-1])
            want = np.interp(t[keep] - lag, rt, rv)
            c = np.corrcoef(got[keep], want)[0, 1]
            if c > best[0]:
                best = (c, lag, np.polyfit(want, got[keep], 1)[0])
        print(f"{key}: correlation {best[0]:.3f} at a lag of {best[1]:+.2f} s, gain {best[2]:.2f} "
              f"(reference spread {np.std(rv):.1f} degrees)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("video")
    m.add_argument("out")
    c = sub.add_parser("compare")
    c.add_argument("motion")
    c.add_argument("ref")
    c.add_argument("--from-secs", type=float, default=1.5)
    a = ap.parse_args()
    if a.cmd == "measure":
        measure(a.video, a.out)
    else:
        compare(a.motion, a.ref, a.from_secs)


if __name__ == "__main__":
    main()
