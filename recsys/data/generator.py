"""Synthetic IBM-format dataset: a catalogue with readable text and learners with realistic behaviour.

Why synthetic: the real ratings are not redistributable, yet every model, test and benchmark needs data
whose *shape* matches the lab data (heavy-tailed activity, a popular head, ~98% completions) and whose
signal is learnable (interests over genres, beginner -> advanced progression), so that personalised
models can beat popularity -- as on the real data -- but not trivially.

Learner model (vectorised over chunks of learners; the only Python loop is per chunk x step):
  * each course has a main genre (its id prefix), a level and a heavy-tailed appeal: Zipf over a
    random rank within its main genre, so every genre has a flagship and the global head is the
    flagships of the genres most learners like (top 20 courses ~60% of enrolments);
  * each learner draws sparse genre interests (Dirichlet) and an activity count (25% take one course,
    ~30% more than ten);
  * courses are taken one at a time, without replacement, with probability proportional to
    appeal x (mix + interest in the course's genres) x unlock, where a course of level L in genre g is
    unlocked once the learner took a level L-1 course of g (locked courses keep a tiny weight, so the
    progression holds "almost always").
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import GENRES
from recsys.data.dataset import LEVELS

# ----- catalogue vocabulary -------------------------------------------------------------------
# genre -> (id prefix, display area, share of catalogue, topics, tools, terms, related genres)
_G = {
    "Database": (
        "DB",
        "Databases",
        60,
        [
            "SQL",
            "Relational Databases",
            "Database Design",
            "NoSQL Databases",
            "Db2",
            "PostgreSQL",
            "MongoDB",
            "Data Warehousing",
            "Database Administration",
        ],
        ["SQL", "Db2", "PostgreSQL", "MySQL", "MongoDB", "Cloudant"],
        [
            "tables",
            "queries",
            "joins",
            "schemas",
            "indexes",
            "transactions",
            "normalization",
            "keys",
            "views",
            "stored procedures",
            "relational model",
            "entity relationship diagrams",
            "select statements",
            "backups",
            "constraints",
        ],
        ["DataAnalysis", "BigData", "DataScience", "BackendDev"],
    ),
    "Python": (
        "PY",
        "Python",
        28,
        [
            "Python",
            "Python Programming",
            "Pandas",
            "NumPy",
            "Python Scripting",
            "Web Scraping with Python",
            "Python Automation",
            "Python Data Structures",
        ],
        ["Python", "Jupyter", "Pandas", "NumPy"],
        [
            "variables",
            "functions",
            "loops",
            "lists",
            "dictionaries",
            "classes",
            "modules",
            "packages",
            "notebooks",
            "scripts",
            "exceptions",
            "strings",
            "libraries",
            "objects",
            "comprehensions",
        ],
        ["DataScience", "MachineLearning", "DataAnalysis"],
    ),
    "CloudComputing": (
        "CC",
        "the Cloud",
        37,
        [
            "Cloud Computing",
            "Cloud Native Applications",
            "Serverless Computing",
            "Cloud Infrastructure",
            "Cloud Security",
            "Hybrid Cloud",
            "IBM Cloud",
            "Cloud Storage",
        ],
        ["IBM Cloud", "Cloud Foundry", "OpenWhisk", "Terraform"],
        [
            "virtual machines",
            "serverless functions",
            "object storage",
            "deployment",
            "scalability",
            "regions",
            "iaas",
            "paas",
            "saas",
            "cloud services",
            "networking",
            "provisioning",
            "availability",
            "identity management",
            "billing",
        ],
        ["Containers", "BackendDev", "Chatbot", "BigData"],
    ),
    "DataAnalysis": (
        "DA",
        "Data Analysis",
        56,
        [
            "Data Analysis",
            "Data Visualization",
            "Excel for Data Analysis",
            "Dashboards",
            "Exploratory Data Analysis",
            "Business Analytics",
            "Descriptive Statistics",
            "Data Wrangling",
        ],
        ["Excel", "Cognos Analytics", "Pandas", "Matplotlib", "Seaborn"],
        [
            "charts",
            "dashboards",
            "spreadsheets",
            "statistics",
            "visualization",
            "pivot tables",
            "trends",
            "data cleaning",
            "wrangling",
            "insights",
            "reports",
            "distributions",
            "outliers",
            "aggregation",
            "plots",
        ],
        ["Python", "DataScience", "R", "Database"],
    ),
    "Containers": (
        "CO",
        "Containers",
        17,
        [
            "Containers",
            "Docker",
            "Kubernetes",
            "OpenShift",
            "Container Orchestration",
            "Microservices with Containers",
            "Helm Charts",
            "Istio Service Mesh",
        ],
        ["Docker", "Kubernetes", "OpenShift", "Helm"],
        [
            "containers",
            "images",
            "pods",
            "clusters",
            "orchestration",
            "registries",
            "deployments",
            "nodes",
            "microservices",
            "service mesh",
            "volumes",
            "manifests",
            "autoscaling",
            "namespaces",
            "operators",
        ],
        ["CloudComputing", "BackendDev"],
    ),
    "MachineLearning": (
        "ML",
        "Machine Learning",
        69,
        [
            "Machine Learning",
            "Deep Learning",
            "Neural Networks",
            "Regression and Classification",
            "Recommender Systems",
            "Reinforcement Learning",
            "Time Series Forecasting",
            "TensorFlow",
            "Natural Language Processing",
        ],
        ["scikit-learn", "TensorFlow", "Keras", "PyTorch", "Watson Studio"],
        [
            "models",
            "training",
            "features",
            "regression",
            "classification",
            "clustering",
            "neural networks",
            "gradient descent",
            "overfitting",
            "evaluation",
            "hyperparameters",
            "predictions",
            "algorithms",
            "supervised learning",
            "embeddings",
        ],
        ["Python", "DataScience", "ComputerVision", "BigData"],
    ),
    "ComputerVision": (
        "CV",
        "Computer Vision",
        10,
        [
            "Computer Vision",
            "Image Processing",
            "Object Detection",
            "Image Classification",
            "Visual Recognition",
            "OpenCV",
            "Convolutional Networks",
            "Video Analytics",
        ],
        ["OpenCV", "PyTorch", "Watson Visual Recognition", "TensorFlow"],
        [
            "images",
            "pixels",
            "convolution",
            "object detection",
            "segmentation",
            "filters",
            "cameras",
            "image classification",
            "bounding boxes",
            "augmentation",
            "video",
            "recognition",
            "feature maps",
            "edges",
            "faces",
        ],
        ["MachineLearning", "Python"],
    ),
    "DataScience": (
        "DS",
        "Data Science",
        38,
        [
            "Data Science",
            "Data Science Methodology",
            "Open Source Data Science Tools",
            "Data Science Orientation",
            "Data Science for Business",
            "Data Science Capstone",
            "Statistics for Data Science",
            "Data Science Ethics",
        ],
        ["Jupyter", "Watson Studio", "RStudio", "GitHub"],
        [
            "data scientists",
            "methodology",
            "hypotheses",
            "experiments",
            "datasets",
            "notebooks",
            "business problems",
            "insights",
            "modeling",
            "questions",
            "projects",
            "storytelling",
            "data collection",
            "data preparation",
            "communication",
        ],
        ["Python", "MachineLearning", "DataAnalysis", "R"],
    ),
    "BigData": (
        "BD",
        "Big Data",
        36,
        [
            "Big Data",
            "Apache Spark",
            "Hadoop",
            "Data Engineering",
            "Stream Processing",
            "Spark SQL",
            "Apache Kafka",
            "Distributed Computing",
            "ETL Pipelines",
        ],
        ["Spark", "Hadoop", "Kafka", "Hive", "MapReduce"],
        [
            "distributed systems",
            "clusters",
            "spark",
            "hadoop",
            "mapreduce",
            "streaming",
            "pipelines",
            "partitions",
            "parallel processing",
            "data lakes",
            "batch jobs",
            "etl",
            "throughput",
            "big data",
            "resilient datasets",
        ],
        ["Database", "DataAnalysis", "CloudComputing", "MachineLearning"],
    ),
    "Chatbot": (
        "CB",
        "Chatbots",
        4,
        ["Chatbots", "Conversational AI", "Watson Assistant", "Virtual Agents", "Natural Language Understanding"],
        ["Watson Assistant", "Node-RED", "Slack"],
        [
            "intents",
            "entities",
            "dialog",
            "conversation",
            "chatbot",
            "natural language",
            "assistant",
            "users",
            "messages",
            "responses",
            "channels",
            "virtual agents",
            "utterances",
            "context",
            "webhooks",
        ],
        ["CloudComputing", "MachineLearning", "FrontendDev"],
    ),
    "R": (
        "RP",
        "R",
        17,
        [
            "R Programming",
            "Data Analysis with R",
            "R for Data Science",
            "Statistics with R",
            "Data Visualization with R",
            "Shiny Apps",
            "The Tidyverse",
        ],
        ["R", "RStudio", "ggplot2", "Shiny", "dplyr"],
        [
            "vectors",
            "data frames",
            "ggplot",
            "tidyverse",
            "dplyr",
            "r markdown",
            "factors",
            "packages",
            "statistics",
            "plots",
            "functions",
            "shiny",
            "linear models",
            "rstudio",
            "lists",
        ],
        ["DataAnalysis", "DataScience", "MachineLearning"],
    ),
    "BackendDev": (
        "BE",
        "Back-end Development",
        78,
        [
            "Back-end Development",
            "Node.js",
            "Java Microservices",
            "REST APIs",
            "Spring Boot",
            "Go Programming",
            "API Design",
            "Reactive Programming",
            "Serverless APIs",
        ],
        ["Node.js", "Java", "Spring", "Express", "Go", "Quarkus"],
        [
            "servers",
            "apis",
            "rest",
            "endpoints",
            "microservices",
            "http",
            "requests",
            "authentication",
            "frameworks",
            "java",
            "node",
            "services",
            "json",
            "middleware",
            "logging",
        ],
        ["CloudComputing", "Containers", "FrontendDev", "Database"],
    ),
    "FrontendDev": (
        "WD",
        "Web Development",
        19,
        [
            "Web Development",
            "HTML and CSS",
            "JavaScript",
            "React",
            "Angular",
            "Responsive Design",
            "Web Accessibility",
            "Progressive Web Apps",
        ],
        ["JavaScript", "React", "Angular", "HTML", "CSS"],
        [
            "web pages",
            "html",
            "css",
            "javascript",
            "components",
            "browsers",
            "layouts",
            "forms",
            "events",
            "styling",
            "user interfaces",
            "dom",
            "responsive design",
            "accessibility",
            "single page apps",
        ],
        ["BackendDev", "CloudComputing"],
    ),
    "Blockchain": (
        "BC",
        "Blockchain",
        4,
        ["Blockchain", "Hyperledger Fabric", "Smart Contracts", "Blockchain for Business", "Distributed Ledgers"],
        ["Hyperledger Fabric", "Ethereum", "Solidity"],
        [
            "ledger",
            "blocks",
            "smart contracts",
            "consensus",
            "transactions",
            "nodes",
            "cryptography",
            "hashing",
            "peers",
            "chaincode",
            "tokens",
            "networks",
            "trust",
            "identity",
            "wallets",
        ],
        ["CloudComputing", "BackendDev"],
    ),
}

_TITLE = (
    [
        "Introduction to {t}",
        "{t} Basics",
        "{t} for Beginners",
        "Getting Started with {t}",
        "{t} Fundamentals",
        "{t} 101",
        "First Steps in {t}",
    ],
    [
        "Applied {t}",
        "Hands-on {t} with {tool}",
        "Practical {t}",
        "{t} in Practice",
        "Intermediate {t}",
        "Building Projects with {t}",
    ],
    [
        "Advanced {t}",
        "{t} in Production",
        "Scaling {t} with {tool}",
        "Mastering {t}",
        "Optimizing {t}",
        "Expert {t} Techniques",
    ],
)
_OPEN = (
    [
        "This introductory course covers the basics of {t}.",
        "Take your first steps with {t}; no prior experience is required.",
        "A beginner friendly introduction to {t} and its core concepts.",
        "Learn the fundamentals of {t} from scratch, one simple step at a time.",
    ],
    [
        "This intermediate course builds on the fundamentals of {t}.",
        "Apply {t} to realistic hands-on projects and case studies.",
        "Move beyond the basics of {t} with practical exercises.",
        "Deepen your working knowledge of {t} through guided labs.",
    ],
    [
        "This advanced course shows how to optimize {t} for production workloads.",
        "Go deep into advanced {t} techniques used by experienced practitioners.",
        "Master expert level {t}: performance, architecture and scaling.",
        "Tackle complex {t} problems and tune solutions for production.",
    ],
)
_BODY = [
    "You will learn about {a}, {b} and {c}.",
    "Hands-on labs use {tool} to work with {a} and {b}.",
    "We explain the link between {a} and {b}, and the role of {c}.",
    "By the end you will be able to use {tool} for {a}.",
    "Exercises walk through {a}, {b} and common pitfalls with {c}.",
    "Real world examples show {a} and {b} in action.",
]
_CLOSE = (
    [
        "Ideal for beginners who want a solid foundation.",
        "No prior knowledge needed, just curiosity.",
        "Perfect as a first course; basics only.",
    ],
    [
        "Some familiarity with the basics is recommended.",
        "Best taken after an introductory course.",
        "Suited to learners with some prior practice.",
    ],
    [
        "Prerequisites: solid experience and completed intermediate courses.",
        "Focus on performance, optimization, deployment and production readiness.",
        "Intended for experienced practitioners.",
    ],
)
_SECONDARY = "The course also touches on {a} and {b} from {area}."
_STOPWORDS = frozenset(
    "a an and are as at be by for from how in into is it its of on one or the this to we why will with "
    "you your just no not only some all up after".split()
)

# ----- behaviour parameters (tuned to the shape targets checked in tests/test_generator.py) -----
_LEVEL_P = np.array([0.45, 0.35, 0.20])  # share of Beginner / Intermediate / Advanced courses
_APPEAL_ZIPF = 2.8  # appeal ~ (rank within main genre)^-s: a flagship per genre
_INTEREST_ALPHA = 0.05  # Dirichlet concentration per genre: most learners like 1-3 genres
_INTEREST_POW = 1.35  # > 1 sharpens interests, so choices follow them more than the head
_INTEREST_MIX = 0.01  # floor under interest: a little browsing outside one's genres
_LOCKED = 1e-4  # weight left on courses whose previous level was not taken
_AUDIT_P = np.array([0.015, 0.03, 0.06])  # chance a take is an audit (2.0) by level: ~98% completions
_MAX_ACTIVITY = 60  # most courses one learner takes (the lab data tops out near 60)
_TAIL_EXP = 2.2  # P(k) ~ (k-9)^-e for k > 10: mean ~6.8 courses per learner
# how many learners are drawn to each genre (GENRES order): data science & friends dominate, as in the lab
_LEARNER_SHARE = np.array([8, 14, 6, 9, 3, 10, 2, 14, 8, 1.5, 3, 4, 2, 3], dtype=float)
_CHUNK = 4096  # learners simulated together (memory ~ chunk x courses)
BEHAVIOUR_FILE = "behaviour_model.json"  # written next to the CSVs: what recsys.simulation needs
BEHAVIOUR_FORMAT, BEHAVIOUR_VERSION = "recsys-behaviour-model", 1  # checked by recsys.simulation.behaviour


def generate_dataset(out_dir, *, seed: int = 0, n_learners: int = 34000, n_courses: int = 300) -> dict:
    """Write ratings.csv, course_genre.csv, course_processed.csv, course_meta.csv, courses_bows.csv, plus
    behaviour_model.json (what `recsys.simulation` needs to simulate learners of this folder).

    Deterministic for a seed. Returns a summary: learners, courses, ratings and shape statistics.
    """
    n_learners, n_courses, seed = int(n_learners), int(n_courses), int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if n_learners < 1:
        raise ValueError(f"n_learners must be >= 1, got {n_learners}")
    if n_courses < len(GENRES):
        raise ValueError(f"n_courses must be >= {len(GENRES)} (one course per genre at least), got {n_courses}")
    root = np.random.SeedSequence(seed)
    cat_seq, user_seq, rate_seq = root.spawn(3)
    catalogue = _make_catalogue(np.random.default_rng(cat_seq), n_courses)
    users, items, ratings, appeal = _make_ratings(user_seq, rate_seq, catalogue, n_learners)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    genre_df = catalogue[["COURSE_ID", "TITLE", *GENRES]]
    _write_csv(out / "course_genre.csv", genre_df)
    _write_csv(out / "course_processed.csv", catalogue[["COURSE_ID", "TITLE", "DESCRIPTION"]])
    _write_csv(out / "course_meta.csv", catalogue[["COURSE_ID", "LEVEL", "DURATION_HOURS"]])
    _write_csv(out / "courses_bows.csv", _bows(catalogue))
    ids = catalogue["COURSE_ID"].to_numpy(dtype=object)
    rating_df = pd.DataFrame(
        {"user": users, "item": pd.Categorical.from_codes(items, categories=ids), "rating": ratings}
    )
    _write_csv(out / "ratings.csv", rating_df)
    _write_behaviour_model(out / BEHAVIOUR_FILE, catalogue, appeal, seed=seed, n_learners=n_learners)
    return _summary(users, items, ratings, n_courses)


# ----- catalogue --------------------------------------------------------------------------------
def _make_catalogue(rng: np.random.Generator, n_courses: int) -> pd.DataFrame:
    n_g = len(GENRES)
    share = np.array([_G[g][2] for g in GENRES], dtype=float)
    main = np.concatenate([rng.permutation(n_g), rng.choice(n_g, n_courses - n_g, p=share / share.sum())])
    main = np.sort(main, kind="stable")
    level = np.zeros(n_courses, dtype=np.int64)
    for g in range(n_g):
        idx = np.flatnonzero(main == g)
        lv = np.sort(rng.choice(3, len(idx), p=_LEVEL_P))
        lv[0] = 0  # every genre starts with a beginner course
        if (lv == 2).any() and not (lv == 1).any():  # keep levels contiguous so advanced is reachable
            lv[np.flatnonzero(lv == 2)[0]] = 1
        level[idx] = rng.permutation(lv)
    order = rng.permutation(n_courses)  # catalogue rows are not grouped by genre
    main, level = main[order], level[order]

    flags = np.zeros((n_courses, n_g), dtype=np.int64)
    flags[np.arange(n_courses), main] = 1
    n_extra = rng.choice(4, n_courses, p=[0.45, 0.38, 0.14, 0.03])
    second = np.full(n_courses, -1)
    for c in range(n_courses):
        related = [GENRES.index(r) for r in _G[GENRES[main[c]]][6]]
        picks = rng.permutation(related)[: n_extra[c]]
        flags[c, picks] = 1
        if len(picks):
            second[c] = picks[0]

    rows, titles, counters = [], set(), Counter()
    for c in range(n_courses):
        g, lv = GENRES[main[c]], int(level[c])
        prefix, _, _, topics, tools, terms, _ = _G[g]
        counters[(prefix, lv)] += 1
        k = counters[(prefix, lv)]
        cid = f"{prefix}0{lv + 1}{k:02d}EN" if k < 100 else f"{prefix}X{lv + 1}{k:03d}EN"
        topic, tool = str(rng.choice(topics)), str(rng.choice(tools))
        sec = GENRES[second[c]] if second[c] >= 0 else None
        title = _title(rng, lv, topic, tool, sec, titles)
        titles.add(title.lower())
        rows.append(
            {
                "COURSE_ID": cid,
                "TITLE": title,
                "DESCRIPTION": _description(rng, lv, topic, tools, terms, sec),
                "LEVEL": LEVELS[lv],
                "DURATION_HOURS": int(rng.integers((1, 4, 8)[lv], (12, 24, 41)[lv])),
            }
        )
    df = pd.DataFrame(rows)
    for j, g in enumerate(GENRES):
        df[g] = flags[:, j]
    df["_main"], df["_level"] = main, level
    return df


def _title(rng, lv, topic, tool, sec, taken) -> str:
    # a topic that already has "with"/"for" only takes prefix templates ("Introduction to ...") and no
    # "for <area>" suffix, so titles never read "X with Python Basics for Data Science"
    compound = " with " in topic or " for " in topic
    templates = [t for t in _TITLE[lv] if not compound or t.endswith("{t}")] or list(_TITLE[lv])
    for _attempt in range(20):
        title = str(rng.choice(templates)).format(t=topic, tool=tool)
        if sec is not None and not compound and " with " not in title and rng.random() < 0.35:
            title += f" for {_G[sec][1]}"
        if title.lower() not in taken:
            return title
    part = 2
    while f"{title} (Part {part})".lower() in taken:
        part += 1
    return f"{title} (Part {part})"


def _description(rng, lv, topic, tools, terms, sec) -> str:
    def pick(pool, k):
        return [str(x) for x in rng.choice(pool, k, replace=False)]

    sentences = [str(rng.choice(_OPEN[lv])).format(t=topic)]
    for tmpl in pick(_BODY, int(rng.integers(2, 4))):
        a, b, c = pick(terms, 3)
        sentences.append(tmpl.format(a=a, b=b, c=c, tool=str(rng.choice(tools))))
    if sec is not None:
        a, b = pick(_G[sec][5], 2)
        sentences.append(_SECONDARY.format(a=a, b=b, area=_G[sec][1]))
    sentences.append(str(rng.choice(_CLOSE[lv])))
    return " ".join(sentences)


def _bows(catalogue: pd.DataFrame) -> pd.DataFrame:
    """Bag of words of title + description (lower-case, punctuation stripped, stop words dropped)."""
    rows = []
    for i, (cid, title, desc) in enumerate(catalogue[["COURSE_ID", "TITLE", "DESCRIPTION"]].itertuples(index=False)):
        tokens = re.findall(r"[a-z0-9]+", f"{title} {desc}".lower())
        counts = Counter(t for t in tokens if t not in _STOPWORDS and len(t) > 1)
        rows.extend((i, cid, tok, n) for tok, n in sorted(counts.items()))
    return pd.DataFrame(rows, columns=["doc_index", "doc_id", "token", "bow"])


# ----- learners ---------------------------------------------------------------------------------
def _activity_pmf(n_courses: int) -> np.ndarray:
    """P(a learner takes k courses), k = 1..K: 25% one course, ~45% 2-10, ~30% more than ten."""
    k = np.arange(1, max(min(n_courses, int(_MAX_ACTIVITY)), 11) + 1, dtype=float)
    pmf = np.zeros_like(k)
    pmf[0] = 0.25
    mid = (k >= 2) & (k <= 10)
    pmf[mid] = 0.45 * (k[mid] ** -0.6) / (k[mid] ** -0.6).sum()
    tail = k > 10
    w = (k[tail] - 9.0) ** -_TAIL_EXP
    pmf[tail] = 0.30 * w / w.sum()
    pmf = pmf[:n_courses]
    return pmf / pmf.sum()


def _make_ratings(user_seq, rate_seq, cat: pd.DataFrame, n_learners: int):
    rng = np.random.default_rng(user_seq)
    n_c, n_g = len(cat), len(GENRES)
    main, level = cat["_main"].to_numpy(), cat["_level"].to_numpy()
    flags = cat[list(GENRES)].to_numpy(dtype=float)
    gnorm = flags / flags.sum(axis=1, keepdims=True)
    # appeal: Zipf over a random rank *within the main genre*: every genre has a flagship, and the
    # global head is the flagships of the genres most learners like (stable across seeds)
    rank = np.empty(n_c)
    for g in range(n_g):
        idx = np.flatnonzero(main == g)
        rank[idx[rng.permutation(len(idx))]] = np.arange(len(idx))
    appeal = (rank + 1.0) ** -_APPEAL_ZIPF
    # unlock[c] = courses opened by taking c: same main genre, level up to one above c's
    unlock = (main[:, None] == main[None, :]) & (level[None, :] <= level[:, None] + 1)
    start = np.where(level == 0, 1.0, _LOCKED)

    alpha = _INTEREST_ALPHA * n_g * _LEARNER_SHARE / _LEARNER_SHARE.sum()
    pmf = _activity_pmf(n_c)
    counts = rng.choice(np.arange(1, len(pmf) + 1), n_learners, p=pmf)
    high = max(10_000_000, 10 * n_learners)
    user_ids = rng.choice(high - 100_000, n_learners, replace=False) + 100_000

    out_u, out_i = [], []
    chunk_seqs = user_seq.spawn((n_learners + _CHUNK - 1) // _CHUNK)
    for ci, lo in enumerate(range(0, n_learners, _CHUNK)):
        crng = np.random.default_rng(chunk_seqs[ci])
        idx = np.arange(lo, min(lo + _CHUNK, n_learners))
        idx = idx[np.argsort(-counts[idx], kind="stable")]  # active learners form a prefix at each step
        cnt = counts[idx]
        theta = crng.dirichlet(alpha, len(idx))
        base = (appeal[None, :] * (_INTEREST_MIX + theta @ gnorm.T) ** _INTEREST_POW).astype(np.float32)
        weight = base * start[None, :].astype(np.float32)
        rows = np.arange(len(idx))
        for step in range(int(cnt[0])):
            n = int(np.searchsorted(-cnt, -step, side="left"))  # learners with cnt > step
            w = weight[:n]
            cs = np.cumsum(w, axis=1)
            r = crng.random(n) * cs[:, -1]
            pick = np.minimum(np.count_nonzero(cs <= r[:, None], axis=1), n_c - 1)
            bad = w[rows[:n], pick] <= 0.0  # rounding at the very end of a row
            pick[bad] = np.argmax(w[bad], axis=1)
            out_u.append(idx[:n])
            out_i.append(pick)
            # taken courses get base 0 too, so unlocking (copying base back in) never revives them
            w[rows[:n], pick] = 0.0
            base[rows[:n], pick] = 0.0
            np.copyto(w, base[:n], where=unlock[pick])
    learner = np.concatenate(out_u)
    items = np.concatenate(out_i).astype(np.int32)
    order = np.argsort(learner, kind="stable")  # group by learner, keep the order taken
    learner, items = learner[order], items[order]
    rrng = np.random.default_rng(rate_seq)
    audited = rrng.random(len(items)) < _AUDIT_P[level[items]]
    ratings = np.where(audited, 2.0, 3.0)
    return user_ids[learner], items, ratings, appeal


# ----- output -----------------------------------------------------------------------------------
def _write_atomic(path: Path, write) -> None:
    """`write(fh)` to a temp file in the same folder, then atomically replace: no half-written files."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    _write_atomic(path, lambda fh: df.to_csv(fh, index=False, lineterminator="\n"))


def _write_behaviour_model(path: Path, cat: pd.DataFrame, appeal: np.ndarray, *, seed: int, n_learners: int) -> None:
    """The behaviour model as JSON next to the CSV files, so `recsys.simulation` can simulate this folder later.

    Plain numbers only (nothing executable is ever deserialized); the CSV files are unaffected.
    """
    import json

    n_g = len(GENRES)
    flags = cat[list(GENRES)].to_numpy()
    model = {
        "format": BEHAVIOUR_FORMAT,
        "version": BEHAVIOUR_VERSION,
        "seed": seed,
        "n_learners": n_learners,
        "genres": list(GENRES),
        "levels": list(LEVELS),
        "course_ids": cat["COURSE_ID"].astype(str).tolist(),
        "main_genre": cat["_main"].astype(int).tolist(),
        "level": cat["_level"].astype(int).tolist(),
        "course_genres": [np.flatnonzero(row).tolist() for row in flags],
        "appeal": [float(a) for a in appeal],
        "interest_alpha": [float(a) for a in _INTEREST_ALPHA * n_g * _LEARNER_SHARE / _LEARNER_SHARE.sum()],
        "interest_pow": _INTEREST_POW,
        "interest_mix": _INTEREST_MIX,
        "locked_weight": _LOCKED,
        "audit_p": [float(a) for a in _AUDIT_P],
        "activity_pmf": [float(p) for p in _activity_pmf(len(cat))],
    }
    _write_atomic(path, lambda fh: json.dump(model, fh, separators=(",", ":")))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _summary(users, items, ratings, n_courses) -> dict:
    _, per_user = np.unique(users, return_counts=True)
    pop = np.sort(np.bincount(items, minlength=n_courses))[::-1]
    return {
        "learners": int(len(per_user)),
        "courses": int(n_courses),
        "ratings": int(len(items)),
        "share_one_course": float((per_user == 1).mean()),
        "share_over_10": float((per_user > 10).mean()),
        "top20_share": float(pop[:20].sum() / max(1, pop.sum())),
        "completed_share": float((ratings == 3.0).mean()),
    }
