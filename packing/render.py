"""A matplotlib 3D picture of a packing, for MLflow artifacts and reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from packing.geometry import Placement


def render(
    container: tuple[int, int, int], placements: Sequence[Placement], title: str = "", max_boxes: int = 1500
):
    """A Figure with the container wireframe and one coloured cuboid per box.

    Colour follows the box type so layers and blocks of one type are easy to see;
    very large packings are cut to ``max_boxes`` to keep rendering quick.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    fig = plt.figure(figsize=(9, 5))
    ax = fig.add_subplot(111, projection="3d")
    cmap = plt.get_cmap("tab20")
    faces, colours = [], []
    for p in list(placements)[:max_boxes]:
        for face in _faces(p):
            faces.append(face)
            colours.append(cmap((p.type - 1) % 20))
    if faces:
        ax.add_collection3d(Poly3DCollection(faces, facecolors=colours, edgecolors="k", linewidths=0.2, alpha=0.85))
    L, W, H = container
    _wireframe(ax, L, W, H)
    ax.set_xlim(0, L)
    ax.set_ylim(0, W)
    ax.set_zlim(0, H)
    ax.set_box_aspect((L, W, H))
    ax.set_xlabel("x (length)")
    ax.set_ylabel("y (width)")
    ax.set_zlabel("z (height)")
    if title:
        ax.set_title(title)
    return fig


def _faces(p: Placement) -> list[np.ndarray]:
    x0, y0, z0 = p.x, p.y, p.z
    x1, y1, z1 = x0 + p.lx, y0 + p.ly, z0 + p.lz
    c = np.array(
        [[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0], [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]]
    )
    idx = ([0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 5, 4], [2, 3, 7, 6], [1, 2, 6, 5], [0, 3, 7, 4])
    return [c[list(i)] for i in idx]


def _wireframe(ax, L: int, W: int, H: int) -> None:
    for xs, ys, zs in (
        ([0, L], [0, 0], [0, 0]), ([0, L], [W, W], [0, 0]), ([0, L], [0, 0], [H, H]), ([0, L], [W, W], [H, H]),
        ([0, 0], [0, W], [0, 0]), ([L, L], [0, W], [0, 0]), ([0, 0], [0, W], [H, H]), ([L, L], [0, W], [H, H]),
        ([0, 0], [0, 0], [0, H]), ([L, L], [0, 0], [0, H]), ([0, 0], [W, W], [0, H]), ([L, L], [W, W], [0, H]),
    ):
        ax.plot(xs, ys, zs, color="grey", linewidth=0.6)
