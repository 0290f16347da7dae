# Writes notebooks/tour.ipynb (run from the repository root: python notebooks/make_tour.py).
import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
md("""# facewidget tour

Detect faces on sample photos, explain a **genuine** and an **impostor** pair with live CorrRISE,
look at the **canonical face** of those maps, and **annotate** a region.

Every view is interactive in JupyterLab (drag, hover, click); a saved notebook or its HTML export
shows a PNG of each view's state (`view.refresh_static()` updates it after you interact)."""),
code("""import numpy as np
from IPython.display import display

import facewidget as fw
from facewidget.widgets import CanonicalFaceView, OverlayView, PairView

# The explainers (facewidget.explain_pair, facewidget.load_model) and canonical maps
# (facewidget.canonical.project) come from their own modules; the tour uses them when installed.
HAVE_EXPLAINERS = hasattr(fw, "explain_pair") and hasattr(fw, "load_model")
HAVE_CANONICAL_MAPS = hasattr(fw.canonical, "project")
print("explainers:", HAVE_EXPLAINERS, "| canonical maps:", HAVE_CANONICAL_MAPS)"""),
md("## 1. Faces\n\nMediaPipe finds each face and its 478-point mesh; the pose is in degrees."),
code("""photos = {name: fw.data.sample(name) for name in ("obama", "obama2", "biden")}
faces = {name: fw.detect_face(img) for name, img in photos.items()}
for name, face in faces.items():
    yaw, pitch, roll = face.pose
    print(f"{name:7s} box={np.round(face.box).astype(int).tolist()} yaw={yaw:+.0f} pitch={pitch:+.0f} roll={roll:+.0f}")"""),
md("""### Aligned chips
The same similarity transform aligns any number of faces at once; its inverse puts chip-space maps
back on the photo (this is how the views place the explainers' chip maps)."""),
code("""chips = fw.align_faces(photos["obama"], [faces["obama"]], fw.DLIB_5)
print("chips", tuple(chips.chips.shape))
print("photo→chip transform:", np.asarray(chips.transforms[0]).round(3).tolist())
mesh = fw.canonical_face()
print("canonical face:", mesh.vertices.shape, "vertices,", mesh.triangles.shape, "triangles")"""),
code("""photo_view = OverlayView(photos["obama"], title="obama: draw polygons or brush strokes, label them")
photo_view.zoom(faces["obama"])
photo_view"""),
md("""## 2. A genuine and an impostor pair, explained live

`view.run(fn, ...)` calls `fn(..., progress=..., cancel=...)` in a background thread: the maps
refresh as CorrRISE accumulates masks (at most ~10 updates/s), the progress bar moves, **Cancel**
stops it, and the kernel stays free for other cells. Hover one face: the same point of the other
face is marked through the mesh."""),
code("""model = fw.load_model("dlib-resnet") if HAVE_EXPLAINERS else None

genuine = PairView.from_photos(photos["obama"], photos["obama2"], faces["obama"], faces["obama2"],
                               title="genuine pair: obama / obama2")
impostor = PairView.from_photos(photos["obama"], photos["biden"], faces["obama"], faces["biden"],
                                title="impostor pair: obama / biden")
display(genuine, impostor)
runs = {}
if HAVE_EXPLAINERS:
    runs["genuine"] = genuine.run(fw.explain_pair, photos["obama"], photos["obama2"], model, method="corrrise",
                                  faces=(faces["obama"], faces["obama2"]), n=1000, seed=0)
    runs["impostor"] = impostor.run(fw.explain_pair, photos["obama"], photos["biden"], model, method="corrrise",
                                    faces=(faces["obama"], faces["biden"]), n=1000, seed=0)
else:
    print("facewidget.explain_pair is not installed in this build: the pair views show the photos and "
          "the linked mesh hover only.")"""),
code("""# the kernel is free while the runs go on; this cell waits for their results
explanations = {name: run.wait() for name, run in runs.items()}
for name, ex in explanations.items():
    print(f"{name}: score={ex.score:.3f} threshold={ex.threshold:.3f} same={ex.same}")
    print("   manifest:", {k: ex.manifest[k] for k in list(ex.manifest)[:6]})"""),
code("""# the decision follows the threshold slider; side by side shows similar and dissimilar maps at once
genuine.arrangement = "side"
impostor.mode = "difference"   # similar − dissimilar on a diverging scale"""),
md("""## 3. The canonical face

The similar map of the genuine pair projected onto MediaPipe's canonical face: drag to rotate,
hover a region for its score, click a region (or its bar) to select it."""),
code("""if HAVE_EXPLAINERS and HAVE_CANONICAL_MAPS:
    ex = explanations["genuine"]
    canonical_map = fw.canonical.project(ex.a.photo_map("similar"), ex.a.face)
    face_view = fw.show(canonical_map)   # per-vertex values (grey: unseen) + region scores (share of mass)
else:
    face_view = CanonicalFaceView(title="canonical face (drag to rotate)")
    display(face_view)
print("regions:", face_view.region_names)"""),
md("""## 4. Annotate

Draw in the views (polygon / brush on a photo, **annotate selected region** on the canonical
face) or add annotations from code; they are widget state (saved with the notebook) and export
to JSON or pandas."""),
code("""LIPS_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
mouth = faces["obama"].points(LIPS_OUTER)[:, :2]
photo_view.add_annotation(kind="polygon", points=mouth.tolist(), label="mouth", note="outer lip contour")
if face_view.region_names:
    face_view.selected_region = face_view.region_names[0]
    face_view.add_annotation(kind="mesh", regions=[face_view.selected_region],
                             triangles=face_view.region_triangles(face_view.selected_region).tolist(),
                             label="most salient region")
print(photo_view.to_json())"""),
code("""try:
    table = photo_view.to_pandas()
except fw.FacewidgetError as e:   # pandas is optional
    table = str(e)
table"""),
code("""# keep the saved notebook's pictures in step with what the views show now
for view in (photo_view, genuine, impostor, face_view):
    view.refresh_static()"""),
]
nb = nbf.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, "notebooks/tour.ipynb")
