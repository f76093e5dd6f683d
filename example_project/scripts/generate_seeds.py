#!/usr/bin/env python3
"""Regenerate the example project's seed CSVs (seeds/raw_accounts.csv, seeds/raw_contacts.csv).

The output is deterministic: the same script always writes the same bytes, so the
committed CSVs can be checked with `python scripts/generate_seeds.py --check`.

The data imitates an export from a product database and a marketing tool, with the mess
that real exports carry and that dbt-revsync has to cope with:

raw_accounts.csv
  - account_id is loaded as DOUBLE (see dbt_project.yml), so every id is an integral
    float such as 10042.0; staging turns it into the text 10042.
  - company names in many scripts (accents, CJK, Hangul, Greek), commas and quotes;
    a few carry surrounding spaces.
  - domain is missing for some accounts; industry is null or whitespace-only for some;
    employees and annual_revenue are null for some.
  - plan is spelled inconsistently (" growth", "Growth", "ENTERPRISE").

raw_contacts.csv
  - every column is loaded as text; account_id is "10042", "10042.0" (an integral float
    written by a tool that stored it as a float), " 10042 " (padded) or empty.
  - names in many scripts; some last names are empty, some are whitespace-only.
  - emails in mixed case, some padded with spaces, some empty or whitespace-only, and
    exactly one address shared by two different contacts once case and spaces are
    ignored (a shared accounts-payable inbox).
  - lifecycle stages in inconsistent case; mobiles in several formats, some empty.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import sys
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

SEED = 20240917
N_ACCOUNTS = 300
N_CONTACTS = 500
FIRST_ACCOUNT_ID = 10001
FIRST_CONTACT_ID = 200001
EPOCH = datetime(2019, 1, 1)
NOW = datetime(2025, 6, 30, 12, 0, 0)

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"

# name, city, country, domain ("" = unknown)
NAMED_ACCOUNTS = [
    ("Société Générale Import", "Paris", "France", "sgi-import.fr"),
    ("Müller & Söhne GmbH", "München", "Germany", "mueller-soehne.de"),
    ("株式会社サンプル", "東京", "Japan", "sample.co.jp"),
    ("北京数据科技有限公司", "北京", "China", ""),
    ("서울소프트 주식회사", "Seoul", "South Korea", "seoulsoft.kr"),
    ("Zürich Präzision AG", "Zürich", "Switzerland", "zuerich-praezision.ch"),
    ("Łódź Tekstylia Sp. z o.o.", "Łódź", "Poland", "lodz-tekstylia.pl"),
    ("São Paulo Comércio Ltda.", "São Paulo", "Brazil", "spcomercio.com.br"),
    ("Ångström Labs AB", "Uppsala", "Sweden", "angstromlabs.se"),
    ("Øresund Logistik ApS", "København", "Denmark", "oresund-logistik.dk"),
    ("Café Olé Distribución S.L.", "Sevilla", "Spain", "cafeole.es"),
    ("Señor Frío S.A. de C.V.", "Monterrey", "Mexico", "senorfrio.mx"),
    ("Čokoláda Brno s.r.o.", "Brno", "Czechia", ""),
    ("İstanbul Tekstil A.Ş.", "İstanbul", "Türkiye", "istanbultekstil.com.tr"),
    ("Ελληνικά Τρόφιμα Α.Ε.", "Αθήνα", "Greece", ""),
    ("Nguyễn Trading Co.", "Hồ Chí Minh", "Vietnam", "nguyentrading.vn"),
    ("O'Brien & Partners, LLC", "Boston", "United States", "obrienpartners.com"),
    ('The "Blue Door" Bakery Ltd', "Dublin", "Ireland", "bluedoorbakery.ie"),
    ("Crème Brûlée Bakeries Inc.", "Montréal", "Canada", "cremebrulee.ca"),
    ("Smith, Jones & Co.", "London", "United Kingdom", "smithjones.co.uk"),
    ("Taller Peña Hermanos", "Bogotá", "Colombia", "tallerpena.co"),
    ("Nordwind Logistik GmbH", "Hamburg", "Germany", "nordwind-logistik.de"),
]

# city, country, legal suffix, top-level domain
LOCATIONS = [
    ("San Francisco", "United States", "Inc.", "com"),
    ("Austin", "United States", "LLC", "com"),
    ("New York", "United States", "Inc.", "com"),
    ("Chicago", "United States", "Corp.", "com"),
    ("Toronto", "Canada", "Ltd.", "ca"),
    ("Québec", "Canada", "Inc.", "ca"),
    ("London", "United Kingdom", "Ltd", "co.uk"),
    ("Manchester", "United Kingdom", "plc", "co.uk"),
    ("Berlin", "Germany", "GmbH", "de"),
    ("Köln", "Germany", "AG", "de"),
    ("Düsseldorf", "Germany", "GmbH", "de"),
    ("Lyon", "France", "SAS", "fr"),
    ("Orléans", "France", "SARL", "fr"),
    ("Amsterdam", "Netherlands", "B.V.", "nl"),
    ("Malmö", "Sweden", "AB", "se"),
    ("Helsinki", "Finland", "Oy", "fi"),
    ("Madrid", "Spain", "S.L.", "es"),
    ("A Coruña", "Spain", "S.A.", "es"),
    ("Lisboa", "Portugal", "Lda.", "pt"),
    ("Milano", "Italy", "S.r.l.", "it"),
    ("Wien", "Austria", "GmbH", "at"),
    ("Kraków", "Poland", "S.A.", "pl"),
    ("Bengaluru", "India", "Pvt. Ltd.", "in"),
    ("Singapore", "Singapore", "Pte. Ltd.", "sg"),
    ("Sydney", "Australia", "Pty Ltd", "com.au"),
    ("Auckland", "New Zealand", "Ltd", "co.nz"),
    ("São Paulo", "Brazil", "Ltda.", "com.br"),
    ("Ciudad de México", "Mexico", "S.A. de C.V.", "mx"),
    ("Osaka", "Japan", "K.K.", "jp"),
    ("Tel Aviv", "Israel", "Ltd.", "co.il"),
]

NAME_HEADS = [
    "Acme",
    "Bluefin",
    "Cedar",
    "Driftwood",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Northstar",
    "Orchid",
    "Pinnacle",
    "Quarry",
    "Redwood",
    "Summit",
    "Tidal",
    "Umber",
    "Vantage",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zephyr",
    "Alder",
    "Beacon",
    "Cobalt",
    "Delta",
    "Everest",
    "Falcon",
    "Glacier",
    "Helix",
    "Ironbark",
    "Jasper",
    "Keystone",
    "Lighthouse",
    "Monarch",
    "Nimbus",
    "Obsidian",
    "Polaris",
    "Quartz",
    "Riverbend",
    "Sequoia",
    "Thistle",
    "Upland",
    "Verdant",
]
NAME_TAILS = [
    "Analytics",
    "Logistics",
    "Foods",
    "Robotics",
    "Health",
    "Software",
    "Energy",
    "Freight",
    "Textiles",
    "Capital",
    "Labs",
    "Systems",
    "Media",
    "Pharma",
    "Builders",
    "Outfitters",
    "Dynamics",
    "Networks",
    "Solar",
    "Insurance",
]
INDUSTRIES = [
    "Software",
    "Logistics",
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Financial Services",
    "Food & Beverage",
    "Energy",
    "Media",
    "Education",
    "Construction",
    "Telecommunications",
]
PLANS = ["starter", "growth", "enterprise"]

FIRST_NAMES = [
    "José",
    "Zoë",
    "François",
    "Søren",
    "Łukasz",
    "Ngozi",
    "Siobhán",
    "Jürgen",
    "Chloé",
    "Björn",
    "Ana María",
    "Mateus",
    "Renée",
    "Anaïs",
    "Dvořák",
    "Émile",
    "Inés",
    "Maël",
    "Priya",
    "Wei",
    "Olumide",
    "Hannah",
    "Liam",
    "Sofia",
    "Noah",
    "Aisha",
    "Mikko",
    "Giulia",
    "Tomás",
    "Fatima",
    "Lars",
    "Yusuf",
    "Chiara",
    "Oğuz",
    "Agnieszka",
    "Kenji",
    "Mei",
    "Dmitri",
    "Ewa",
    "Rafael",
    "Sarah",
    "David",
    "Emma",
    "Lucas",
    "Mia",
    "Ethan",
    "Olivia",
]
LAST_NAMES = [
    "Müller",
    "García Márquez",
    "O'Neill",
    "Nguyễn",
    "Đặng",
    "Kowalczyk",
    "van der Berg",
    "Øvergaard",
    "Ibáñez",
    "Schäfer",
    "Lefèvre",
    "Şahin",
    "Novák",
    "Björklund",
    "Smith",
    "Johnson",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
    "Tanaka",
    "Kim",
    "Chen",
    "Haddad",
    "Fernández",
    "Dubois",
    "Jensen",
    "Virtanen",
    "Costa",
    "Ivanova",
    "Cohen",
    "Walker",
    "Brown",
    "Lopez",
    "Wilson",
    "Martin",
    "Anderson",
    "Taylor",
    "Moore",
    "Clark",
]
# Names written only in a non-Latin script, with the romanisation used for the mailbox.
CJK_PEOPLE = [
    ("太郎", "山田", "taro.yamada"),
    ("花子", "佐藤", "hanako.sato"),
    ("伟", "王", "wei.wang"),
    ("민준", "김", "minjun.kim"),
    ("由紀", "鈴木", "yuki.suzuki"),
]
JOB_TITLES = [
    "Head of Operations",
    "VP Sales",
    "Procurement Manager",
    "CFO",
    "CTO",
    "Data Analyst",
    "Office Manager",
    "Marketing Director",
    "Customer Success Lead",
    "Founder & CEO",
    "IT Administrator",
    "Accounts Payable Clerk",
    "Product Manager",
    "Buyer",
]
LIFECYCLE = ["Lead", "lead", "MQL", " MQL", "SQL", "Opportunity", "Customer", "customer ", "CUSTOMER", "Churned"]
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "gmx.de", "proton.me"]

# The one address two contacts share, once case and spaces are ignored.
SHARED_INBOX_ACCOUNT = "Nordwind Logistik GmbH"
SHARED_INBOX_VARIANTS = ("Accounts.Payable@Nordwind-Logistik.de", "  accounts.payable@nordwind-logistik.de ")


def ascii_fold(text: str) -> str:
    text = text.replace("ß", "ss").replace("ø", "o").replace("Ø", "O").replace("ł", "l")
    text = text.replace("Ł", "L").replace("đ", "d").replace("Đ", "D").replace("ı", "i")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if ord(c) < 128)


def slug(text: str, sep: str = "-") -> str:
    return re.sub(r"[^a-z0-9]+", sep, ascii_fold(text).lower()).strip(sep)


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def random_moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(seconds))


def build_accounts(rng: random.Random) -> list[dict]:
    combos = [(h, t) for h in NAME_HEADS for t in NAME_TAILS]
    rng.shuffle(combos)
    accounts = []
    used_names = set()
    # Spread the hand-written names over the id range instead of bunching them up front;
    # the Munich account always gets id 10042, the one the README uses as its example.
    munich = NAMED_ACCOUNTS[1]
    others = [a for a in NAMED_ACCOUNTS if a is not munich]
    munich_slot = 10042 - FIRST_ACCOUNT_ID
    slots = sorted(rng.sample([i for i in range(N_ACCOUNTS) if i != munich_slot], len(others)))
    named_by_slot = dict(zip(slots, others))
    named_by_slot[munich_slot] = munich

    for i in range(N_ACCOUNTS):
        account_id = FIRST_ACCOUNT_ID + i
        if i in named_by_slot:
            name, city, country, domain = named_by_slot[i]
        else:
            while True:
                head, tail = combos.pop()
                city, country, suffix, tld = rng.choice(LOCATIONS)
                name = f"{head} {tail} {suffix}"
                if name not in used_names:
                    break
            domain = f"{slug(head + tail, '')}.{tld}"
            if rng.random() < 0.10:
                domain = ""  # unknown website
            elif rng.random() < 0.08:
                domain = domain.capitalize()  # typed by hand
        used_names.add(name)

        raw_name = name
        if rng.random() < 0.04:
            raw_name = f" {name}  "

        industry = rng.choice(INDUSTRIES)
        r = rng.random()
        if r < 0.08:
            industry = ""  # empty in the CSV: null in the warehouse
        elif r < 0.10:
            industry = "  "  # whitespace-only: blank after trimming

        employees = str(rng.choice([5, 12, 25, 48, 80, 150, 320, 750, 1200, 4800, 12000]) + rng.randrange(0, 5))
        if rng.random() < 0.09:
            employees = ""

        revenue = f"{rng.randrange(50, 500_000) * 1000:.1f}"
        if rng.random() < 0.06:
            revenue = ""

        plan = rng.choice(PLANS)
        r = rng.random()
        if r < 0.10:
            plan = plan.capitalize()
        elif r < 0.15:
            plan = plan.upper()
        elif r < 0.20:
            plan = f" {plan} "

        created = random_moment(rng, EPOCH, datetime(2024, 12, 31))
        updated = random_moment(rng, created, NOW)
        accounts.append(
            {
                "account_id": f"{float(account_id):.1f}",  # 10042.0: the id went through a float
                "company_name": raw_name,
                "domain": domain,
                "industry": industry,
                "city": city,
                "country": country,
                "employees": employees,
                "annual_revenue": revenue,
                "plan": plan,
                "created_at": ts(created),
                "updated_at": ts(updated),
                # not written: used to build contacts
                "_id": account_id,
                "_name": name,
                "_domain": domain.lower(),
            }
        )
    return accounts


def build_contacts(rng: random.Random, accounts: list[dict]) -> list[dict]:
    contacts = []
    used_emails: set[str] = set()
    shared_account = next(a for a in accounts if a["_name"] == SHARED_INBOX_ACCOUNT)

    ids = list(range(FIRST_CONTACT_ID, FIRST_CONTACT_ID + N_CONTACTS))
    # Null and blank emails, and the shared inbox, go on fixed, spread-out positions.
    positions = rng.sample(range(N_CONTACTS), 16)
    null_email_at = set(positions[:11])
    blank_email_at = set(positions[11:14])
    shared_at = sorted(positions[14:16])

    for i, contact_id in enumerate(ids):
        if i in shared_at:
            account = shared_account
        else:
            account = rng.choice(accounts)

        if rng.random() < 0.04:
            first, last, mailbox = rng.choice(CJK_PEOPLE)
            mailbox_base = mailbox
        else:
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            mailbox_base = f"{slug(first, '')}.{slug(last, '')}"

        domain = account["_domain"] or rng.choice(FREE_MAIL)
        email = f"{mailbox_base}@{domain}"
        n = 2
        while email.lower() in used_emails:
            email = f"{mailbox_base}{n}@{domain}"
            n += 1
        used_emails.add(email.lower())

        r = rng.random()
        if r < 0.12:
            local, _, dom = email.partition("@")
            email = f"{local.title()}@{dom.title()}"  # Jose.Garcia@Acme.Com
        elif r < 0.17:
            email = email.upper()
        r = rng.random()
        if r < 0.06:
            email = f" {email}"
        elif r < 0.10:
            email = f"{email}  "

        if i in null_email_at:
            email = ""  # empty in the CSV: null
        elif i in blank_email_at:
            email = "   "  # whitespace-only: null after cleaning
        elif i == shared_at[0]:
            email = SHARED_INBOX_VARIANTS[0]
        elif i == shared_at[1]:
            email = SHARED_INBOX_VARIANTS[1]

        r = rng.random()
        if r < 0.04:
            last = ""  # null
        elif r < 0.06:
            last = " "  # blank
        if rng.random() < 0.05:
            first = f" {first}"

        # account_id as the marketing tool exported it
        r = rng.random()
        if i in shared_at:
            account_ref = str(account["_id"])
        elif r < 0.03:
            account_ref = ""  # contact not linked to an account
        elif r < 0.33:
            account_ref = f"{float(account['_id']):.1f}"  # 10042.0
        elif r < 0.38:
            account_ref = f" {account['_id']} "  # padded
        else:
            account_ref = str(account["_id"])

        r = rng.random()
        digits = "".join(str(rng.randrange(10)) for _ in range(7))
        if r < 0.12:
            mobile = ""
        elif r < 0.40:
            mobile = f"+1 {rng.randrange(200, 999)} {digits[:3]} {digits[3:]}"
        elif r < 0.65:
            mobile = f"({rng.randrange(200, 999)}) {digits[:3]}-{digits[3:]}"
        elif r < 0.85:
            mobile = f"+49 15{rng.randrange(10)} {digits}"
        else:
            mobile = f"+44 7{rng.randrange(100, 999)} {digits[:6]}"

        job_title = rng.choice(JOB_TITLES) if rng.random() >= 0.08 else ""
        if i in shared_at:
            job_title = "Accounts Payable Clerk"

        raw_contact_id = str(contact_id)
        if rng.random() < 0.03:
            raw_contact_id = f" {contact_id} "

        updated = random_moment(rng, datetime(2023, 1, 1), NOW)
        contacts.append(
            {
                "contact_id": raw_contact_id,
                "account_id": account_ref,
                "first_name": first,
                "last_name": last,
                "email": email,
                "mobile": mobile,
                "job_title": job_title,
                "lifecycle_stage": rng.choice(LIFECYCLE),
                "updated_at": ts(updated),
            }
        )
    return contacts


def render(rows: list[dict]) -> str:
    columns = [c for c in rows[0] if not c.startswith("_")]
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n", quoting=csv.QUOTE_MINIMAL
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed CSVs differ from what would be written"
    )
    args = parser.parse_args()

    rng = random.Random(SEED)
    accounts = build_accounts(rng)
    contacts = build_contacts(rng, accounts)
    outputs = {
        SEEDS_DIR / "raw_accounts.csv": render(accounts),
        SEEDS_DIR / "raw_contacts.csv": render(contacts),
    }
    stale = []
    for path, text in outputs.items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({text.count(chr(10)) - 1} rows)")
    if stale:
        print("out of date: " + ", ".join(stale) + " (run scripts/generate_seeds.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
