# Writes the teaching notebooks, one per method (run from the repository root:
# python notebooks/make_notebooks.py). The tour has its own script (make_tour.py).
# Each notebook runs top to bottom in well under a minute on a laptop CPU (small n, few photos);
# `make test` executes them (tests/test_teaching_notebooks.py) and `make demo HEADLESS=1` writes
# them executed, with their interactive HTML exports.
import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell

SETUP = code("""import os
os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's start-up log lines
import numpy as np
from IPython.display import display

import facewidget as fw""")

PAIRS = [
md("""# Pair explanations with CorrRISE

A face verification model answers *same person or not?* with one number. CorrRISE asks which
regions made that number: it occludes random patches of **both** faces, watches the similarity
move, and correlates each pixel's visibility with the score. Two maps per face come out:

* **similar** — regions whose visibility raised the similarity (evidence for *same*);
* **dissimilar** — regions whose visibility lowered it (evidence for *different*).

This notebook explains a genuine and an impostor pair live, checks how **reliable** and
**significant** the maps are, and measures them with **deletion / insertion** against random maps."""),
SETUP,
code("""model = fw.load_model("dlib-resnet")          # dlib's ResNet-29 face embedding (CPU)
photos = {name: fw.data.sample(name) for name in ("obama", "obama2", "biden")}
faces = {name: fw.detect_face(img) for name, img in photos.items()}
print(model.config.name, "| threshold", model.config.threshold if hasattr(model.config, "threshold") else "")"""),
md("""## 1. Live maps

`view.run(...)` computes in a background thread: the maps refresh as masks accumulate, **Cancel**
stops the run and keeps what was computed. Hover one face — the same point of the other face is
marked through the 478-point mesh. Switch *similar / dissimilar / difference* with the buttons."""),
code("""from facewidget.widgets import PairView

# n="auto" (the default): masks stream until the maps' split-half reliability reaches 0.95 (watch it
# climb in the status line), at most n_max masks
genuine = PairView.from_photos(photos["obama"], photos["obama2"], faces["obama"], faces["obama2"],
                               title="genuine: obama / obama2")
impostor = PairView.from_photos(photos["obama"], photos["biden"], faces["obama"], faces["biden"],
                                title="impostor: obama / biden")
display(genuine, impostor)
runs = {
    "genuine": genuine.run(fw.explain_pair, photos["obama"], photos["obama2"], model, method="corrrise",
                           faces=(faces["obama"], faces["obama2"]), n="auto", n_max=2000, seed=0),
    "impostor": impostor.run(fw.explain_pair, photos["obama"], photos["biden"], model, method="corrrise",
                             faces=(faces["obama"], faces["biden"]), n="auto", n_max=2000, seed=0),
}"""),
code("""pairs = {name: run.wait() for name, run in runs.items()}
for name, pair in pairs.items():
    m = pair.manifest
    print(f"{name:8s} score={pair.score:.3f} same={pair.same}  {m['method']} seed={m['seed']}: "
          f"{m['n_used']} masks, reliability {m['reliability']:.3f}")
impostor.mode = "difference"   # similar − dissimilar on a diverging scale"""),
md("""## 2. Reliability: would another run draw the same map?

CorrRISE is a Monte Carlo estimate. With `n="auto"` it stops once two interleaved halves of its own
masks agree (split-half reliability, Spearman–Brown corrected, ≥ 0.95), and records the number of
masks used and the reliability reached in the manifest. Check it from outside: explain the genuine
pair again with another seed and compare the two maps by rank correlation (1: same ranking)."""),
code("""again = fw.explain_pair(photos["obama"], photos["obama2"], model, method="corrrise",
                       faces=(faces["obama"], faces["obama2"]), n="auto", n_max=2000, seed=1)
first = pairs["genuine"]
for face in ("a", "b"):
    for kind in ("similar", "dissimilar"):
        r = fw.evaluate.rank_correlation(getattr(first, face).maps[kind], getattr(again, face).maps[kind])
        print(f"face {face} {kind:10s} seed 0 vs seed 1: rank correlation {r:.2f}")
for name, run in (("seed 0", first), ("seed 1", again)):
    print(f"{name}: {run.manifest['n_used']} masks, split-half reliability {run.manifest['reliability']:.3f}")"""),
md("""Why so few masks? A mask is free; a forward pass is not. Besides each pixel's mask value, every
mask is summarised by 36 numbers — how much of each cell of a 6×6 grid it hides — whose exact
covariance with every pixel is known in closed form. Fitting the scores on those numbers removes
the score variation that *other* regions cause from each pixel's correlation, without changing what
is estimated (a *control variate*). `controls=0` turns it off: at the same 256 masks, compare how
well two seeds agree with and without it."""),
code("""def seed_agreement(**params):
    maps = [fw.explain_pair(photos["obama"], photos["obama2"], model, method="corrrise", n=256, seed=s,
                            faces=(faces["obama"], faces["obama2"]), **params).a.maps["signed"] for s in (0, 1)]
    return np.corrcoef(maps[0].ravel(), maps[1].ravel())[0, 1]

print(f"256 masks, seed 0 vs seed 1: control variates r = {seed_agreement():.3f}, "
      f"plain estimate r = {seed_agreement(controls=0):.3f}")
print("variance of the scores the controls explain:", first.manifest["params"]["control_variates"]["explained_variance"])"""),
md("""## 3. Significance: which pixels differ from chance?

A map value is worth reading only where the correlation is unlikely under random masks. Methods
that test it add a per-pixel `p_value` map and a `significant` mask (Benjamini–Hochberg at the
manifest's `fdr`); the views leave non-significant pixels transparent."""),
code("""for face in ("a", "b"):
    maps = getattr(first, face).maps
    sig = np.asarray(maps["significant"]) > 0.5
    print(f"face {face}: {sig.mean():.1%} of pixels significant at fdr={first.manifest['params']['fdr']}, "
          f"smallest p-value {float(np.min(maps['p_value'])):.2g}")
genuine.show_insignificant = True    # the toggle of the view: draw the non-significant pixels too"""),
md("""## 4. Deletion and insertion

Delete the most salient pixels first (black) and watch the decision break; insert them first into a
blurred face and watch it recover. A good map breaks the decision sooner (lower deletion AUC) and
restores it sooner (higher insertion AUC) than **random maps** on the same pairs and threshold."""),
code("""ev = fw.evaluate.evaluate_pairs(model, [(photos["obama"], photos["obama2"]), (photos["obama"], photos["biden"])],
                                genuine=[True, False], method="corrrise", n=250, steps=10, seed=0)
for mode in ("deletion", "insertion"):
    c, r = getattr(ev, mode), getattr(ev, "random_" + mode)
    print(f"{mode:9s} AUC accuracy: corrrise {c.auc_accuracy:.3f} | random {r.auc_accuracy:.3f}")
print("beats random:", ev.beats_random())"""),
code("""import plotly.graph_objects as go

fig = go.FigureWidget(layout=dict(title="genuine similarity while pixels are deleted / inserted", height=320,
                                  xaxis_title="fraction of pixels", yaxis_title="similarity (genuine pair)"))
for mode, dash in (("deletion", None), ("insertion", "dot")):
    for name, curve in (("corrrise", getattr(ev, mode)), ("random", getattr(ev, "random_" + mode))):
        fig.add_scatter(x=curve.fractions, y=curve.similarity_genuine, name=f"{name} {mode}", line=dict(dash=dash))
fig"""),
]

CANONICAL = [
md("""# Canonical saliency maps

Saliency maps live on one photo. To say what a model looks at *in general*, map each one onto
MediaPipe's **canonical face** (468 vertices, 898 triangles), where every face's nose is the same
nose. Three levels:

1. **image-level** (CIS): one photo's canonical map, from occluding canonical patches;
2. **model-level**: the mean map over many photos, per group (here: the gender the model predicts);
3. **groups compared**: the difference of two groups' maps, with permutation p-values per region."""),
SETUP,
code("""gender = fw.load_model("dlib-gender")          # a two-class attribute model on dlib's embedding
photos = {name: fw.data.sample(name) for name in ("obama", "obama2", "obama3", "biden", "astronaut")}
faces = {name: fw.detect_face(img) for name, img in photos.items()}
print(gender.config.name, "classes:", gender.config.classes)"""),
md("""## 1. Image-level: canonical image saliency (CIS)

Occlude patches of the canonical face on the photo, record how much the target (the logit of the
predicted class) drops, and paint it on the mesh. Drag the face to rotate it, hover a region for
its score, click a region or its bar to select it."""),
code("""from facewidget.canonical import canonical_image_saliency, predicted_class

RES = 96   # canonical texture side: small keeps this notebook quick
cis = canonical_image_saliency(photos["obama"], gender, None, faces["obama"], resolution=RES)
face_view = fw.show(cis)
for r in cis.region_scores()[:3]:   # ranked by share of the saliency mass
    print(f"{r['region']:12s} share {r['share']:.2f}  mean {r['mean']:.3f}  coverage {r['coverage']:.0%}")"""),
md("""## 2. Model-level, per group

`model_map` folds one CIS per photo into running statistics (mean, std) per group. Here the group
is the class the model itself predicts, so the maps show what it uses for each answer. Mirrored
copies double the small sample (a real study reads a data set: `facewidget.datasets`), and CIS
occludes 120 evenly spread vertices and fills the rest (`vertex_subset`: ~4x faster)."""),
code("""from facewidget.canonical import vertex_subset

items = []
for name, img in photos.items():
    mirrored = np.ascontiguousarray(img[:, ::-1])
    items += [(img, faces[name]), (mirrored, fw.detect_face(mirrored))]
by_class = fw.canonical.model_map(items, gender, None, method="cis", resolution=RES,
                                  groups=predicted_class(gender), vertices=vertex_subset(120))
for key, group in by_class.groups.items():
    print(f"group {key!r}: {group.n_images} images")
group_views = {key: fw.show(group, title=f"mean CIS, predicted {key}") for key, group in by_class.groups.items()}"""),
md("""## 3. Groups compared, with p-values

The difference of the two groups' mean maps, and per region a two-sided permutation test of the
difference of per-image region means. With a handful of photos the p-values are coarse: read them
as *how sure*, next to *how big*."""),
code("""first, second = list(by_class.groups)[:2]
cmp = fw.canonical.compare(by_class[first], by_class[second], n_permutations=500, seed=0)
print(f"{first} − {second}:")
for r in cmp.regions[:6]:
    print(f"  {r['region']:14s} difference {r['difference']:+.4f}  p={r['p_value']:.3f}  (n={r['n_a']}/{r['n_b']})")
difference_view = fw.show(cmp.difference, title=f"{first} − {second}")"""),
]

QUALITY = [
md("""# Face image quality explanations

A face image quality assessment (FIQA) method gives each image one score. Activation-map variation
analysis (AMVA) asks what the *recognition model* does differently on images the FIQA method
rates low: split a set by the score, compute the model's activation maps, and compare the
variation (AM-V) of the high- and the low-quality set pixel by pixel. Then one image's map is read
against the high-quality mean (its **deviation**).

1. **degradations**: one clean photo per person, made worse in controlled ways;
2. **AMVA**: high vs low quality sets for each FIQA method;
3. **single-image deviation**."""),
SETUP,
code("""from facewidget import quality

model = fw.load_model("dlib-resnet")
names = ("obama", "obama2", "biden")
photos = {name: fw.data.sample(name) for name in names}
faces = {name: fw.detect_face(img) for name, img in photos.items()}"""),
md("""## 1. Degradations

`DegradationGenerator` applies blur, noise, JPEG, low light and downscaling at a seeded severity;
every image keeps its source, kind and severity."""),
code("""gen = quality.DegradationGenerator(seed=0, kinds=["blur", "noise", "jpeg", "low_light", "downscale"],
                                   severity=(0.8, 1.0))
images = gen.build(photos, faces)
print(len(images), "images:", sorted({im.kind for im in images}))
from facewidget.widgets import OverlayView
examples = [OverlayView(np.asarray(im.image), title=f"{im.source} · {im.kind}") for im in images[:3]]
display(*examples)"""),
md("""## 2. AMVA: what changes between high- and low-quality images

Two FIQA methods here (ISO-style sharpness and BRISQUE); Grad-CAM maps of the embedding; the
lowest and highest 30 % by score form the two sets. `QualityView` shows, per method, the score
histogram with the split, the mean and AM-V maps of both sets and their difference, and the
deviation of the chosen image."""),
code("""analysis = quality.analyze(images, fiqa=["sharpness", "brisque"], model=model, quantile=0.3, maps="gradcam",
                           batch_size=12, seed=0)
res = analysis.chip["sharpness"]
print("high set:", res.high.count, "images | low set:", res.low.count, "images")
print("AM-V outside the central face: high", round(res.region["high"]["am_v_outside"], 4),
      "| low", round(res.region["low"]["am_v_outside"], 4))
from facewidget.widgets.quality import QualityView
QualityView(analysis).widget"""),
md("""## 3. One image against the high-quality mean

The deviation map of one image shows where its activation leaves the range of the high-quality
set; on the photo's chip, draggable over it."""),
code("""low = int(res.low.indices[0])
item = images[low]
dev = analysis.deviation(low, "sharpness")    # (150, 150) in [0, 1], the model's chip space
chip = fw.align_faces(np.asarray(item.image), [item.face], fw.DLIB_5).chips[0]   # the same chip, (3, h, w) in [0, 1]
chip = (chip.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
print(f"{analysis.ids[low]}: mean deviation {np.nanmean(dev):.3f}, "
      f"inside the face {np.nanmean(dev[analysis.region_mask > 0.5]):.3f}, outside {np.nanmean(dev[analysis.region_mask <= 0.5]):.3f}")
deviation_view = OverlayView(chip, dev.astype(np.float32), title=f"deviation of {analysis.ids[low]}")
deviation_view"""),
]

NOTEBOOKS = {"pairs.ipynb": PAIRS, "canonical.ipynb": CANONICAL, "quality.ipynb": QUALITY}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook(cells=cells)
        for i, cell in enumerate(nb.cells):  # stable ids: regenerating changes only what changed
            cell.id = f"{name.split('.')[0]}-{i}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbf.write(nb, f"notebooks/{name}")
        print("wrote", f"notebooks/{name}")
