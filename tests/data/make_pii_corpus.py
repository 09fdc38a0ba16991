"""Writes tests/data/pii_corpus.csv (``python tests/data/make_pii_corpus.py``): synthetic strings labelled with the kind of personal data
they hold ("none" for look-alikes that must survive). Names are common or invented, phone
numbers are from Ofcom's ranges for drama, NHS numbers from the 999 range kept for testing."""
import csv
import random
import sys
from pathlib import Path

random.seed(13)
rows = []
def add(text, kind, fmt, value=""):
    if kind != "none":
        assert value and value in text, (text, value)
    rows.append((text, kind, value, fmt))

def nhs():
    while True:
        d = [9, 9, 9] + [random.randint(0, 9) for _ in range(6)]
        total = sum(x * w for x, w in zip(d, range(10, 1, -1)))
        c = (11 - total % 11) % 11
        if c != 10:
            s = "".join(map(str, d + [c]))
            return s[:3], s[3:6], s[6:]

# ---- names after titles (the cases first)
titled = [
    ("Mrs McDonald", "title mc"), ("Mr MacBride", "title mac"), ("Ms O'Neil", "title o'"),
    ("Mr O’Connor", "title o' curly"), ("Mr DeVito", "title camel"), ("Miss Sarah-Jane Smith", "title hyphen given"),
    ("MR SMITH", "title upper"), ("MRS MCDONALD", "title upper mc"), ("mrs mcdonald", "title lower"),
    ("mr o'neil", "title lower o'"), ("Dr. Patel", "title dot"), ("Mx Taylor-Reid", "title hyphen surname"),
    ("Cllr Jones", "title cllr"), ("PC O'Brien", "title police rank"), ("Mrs D'Souza", "title d'"),
    ("Mr van der Berg", "title particles"), ("Mrs Mc Donald", "title spaced mc"), ("Dr A. B. Jones", "title initials"),
    ("Mr J Smith", "title initial"), ("Ms FitzGerald", "title fitz"), ("Mrs Ní Bhriain", "title irish"),
    ("Mr Wojciechowski", "title unlisted surname"), ("Prof. Okonkwo", "title prof"), ("Mrs Sarah Wojciechowska", "title given unlisted"),
    ("MS SARAH-JANE O'NEIL", "title upper hyphen"), ("Dr MacLeod-Smith", "title mac hyphen"), ("Sgt McAllister", "title rank"),
    ("Mr.Smith", "title no space"), ("mr  smith", "title double space"), ("Miss Zoë Brontë", "title accents"),
]
frames = ["Seen by {} on Tuesday.", "{} attended the review.", "Referral made by {}.", "Letter sent to {} at home.",
          "{}", "Spoke to {} about the school move."]
for i, (name, fmt) in enumerate(titled):
    for j in range(2):
        value = "Smith" if name == "Mr.Smith" else name.split(None, 1)[1].strip()
        add(frames[(i + j) % len(frames)].format(name), "name", fmt, value)

# ---- names after context words
for text, fmt in [
    ("a boy called Jamie O'Connor", "called o'"), ("a girl called Riley", "called given"), ("mother is known as Sarah-Jane", "known as"),
    ("née MacLeod", "nee mac"), ("her name is Aoife Murphy", "name is"), ("the child, named Kacper Nowak, was", "named"),
    ("aka Jonny McKenzie", "aka mc"), ("father called DeShawn Williams", "called camel"),
    ("a.k.a. Jonny Smith", "a.k.a."),
]:
    value = {"née MacLeod": "MacLeod"}.get(text) or next(
        text[text.index(w) + len(w):].split(",")[0].strip()
        for w in ("called ", "known as ", "name is ", "named ", "aka ", "a.k.a. ") if w in text)
    value = value.removesuffix(", was")
    add(text, "name", "context " + fmt, value)

# ---- names with no context word (a known given name, then a surname)
for text in [
    "Sarah-Jane McDonald was seen at home", "John Smith attended", "Priya Patel missed the appointment",
    "Mohammed Khan was referred", "Aoife Murphy moved school", "Olivia O'Neil is on the plan",
    "Visit with Emma Thompson and her son", "Report by Daniel MacBride", "Jack Taylor-Reid was excluded",
    "JOHN SMITH REFERRED", "Grace Williams attended", "Ruby DeVito was seen", "Oliver Jones and Amelia Brown",
    "Lily Evans missed school", "Noah Wilson was discharged", "Isla McKenzie was placed",
    "Harry Patel moved", "Chloe O'Brien", "Liam Murphy-Jones", "Ava Kowalski was referred",
]:
    words = text.split()
    value = " ".join(words[:2]) if "and" not in words else " ".join(words[-2:])
    if text.startswith(("Visit with", "Report by")):
        value = " ".join(words[2:4])
    add(text, "name", "no context", value)

# ---- labels that are entirely a name (category labels)
for text, fmt in [
    ("Sarah-Jane McDonald", "label full"), ("SMITH, John", "label comma upper"), ("Smith, J.", "label comma initial"),
    ("J. Smith", "label initial"), ("O'Neil, Siobhan", "label comma o'"), ("MCDONALD, SARAH", "label comma all upper"),
    ("Mary Ann Taylor", "label two given"), ("Jan van der Berg", "label particles"), ("Patel, Priya", "label comma"),
    ("Sarah-Jane Wojciechowska", "label unlisted surname"), ("A B Jones", "label initials"), ("JOHN SMITH", "label upper"),
    ("Mrs McDonald", "label title"), ("Khan, Mohammed", "label comma"), ("Emily Clarke", "label full"),
    ("Thomas O'Brien", "label full o'"), ("Jessica MacBride", "label full mac"), ("WILLIAMS, Grace", "label comma upper"),
    ("Jones, A B", "label comma initials"), ("Chloe Taylor-Reid", "label hyphen surname"),
]:
    add(text, "name", fmt, text.removeprefix("Mrs "))

# ---- phone numbers with any separators
phones = ["07700 900123", "07700.900.123", "07700-900-123", "077 0090 0123", "07700900123", "(01632) 960001",
          "+44 7700 900123", "+447700900123", "0044 7700 900 123", "+44 (0)1632 960001", "01632/960001",
          "0113 496 0000", "020 7946 0018", "+44-20-7946-0018", "07700 900 123", "07700/900/123",
          "07700\u00a0900123", "07700 – 900 – 123", "(07700) 900123", "0044 (0)20 7946 0991"]
for i, p in enumerate(phones):
    add(["Call {} after 5pm", "Mobile: {}", "{}", "tel {}."][i % 4].format(p), "phone", "phone", p)

# ---- NHS numbers with any separators (valid check digits)
seps = [" ", ".", "-", "", "/", " - ", "  ", "_"]
for i in range(20):
    a, b, c = nhs()
    s = seps[i % len(seps)]
    number = f"{a}{s}{b}{s}{c}"
    add(["NHS {}", "NHS no. {}", "{}", "nhs number: {} seen"][i % 4].format(number), "nhs_number", "nhs", number)

# ---- National Insurance numbers
for text in ["AB 12 34 56 C", "ab123456c", "AB-12-34-56-C", "JT 48 29 11 A", "NI number: JT 48 29 11",
             "nino CE123456D", "NI AB 123456 C", "National Insurance number: HK 37 45 90 B", "ni no. ab 12 34 56 c",
             "WL 23 45 67 D"]:
    import re as _re
    value = _re.search(r"[A-Za-z]{2}[ -]?\d{2}[ -]?\d{2}[ -]?\d{2}(?:[ -]?[A-Da-d])?$", text).group(0)
    add(f"Claimant {text} on file" if len(text) < 16 else text, "ni_number", "nino", value)

# ---- dates of birth
for text in ["DOB: 2011-04-03", "D.O.B. 03/04/2011", "date of birth 3 April 2011", "born on 3rd April 2011",
             "DOB 03.04.11", "Date of Birth: April 3, 2011", "dob=20110403", "birth date 03-04-2011",
             "Born: 3 Apr 2011", "DOB 3/4/2011", "born on the 3rd of April 2011", "Date of birth is 2011/04/03",
             "dob: 03 04 2011", "BIRTHDATE 2011-04-03", "(DOB 01/02/2016)", "born 12 Sept 2009"]:
    import re as _re
    value = _re.search(r"(?:\d[\d/.\- ]*\d|\d{1,2}(?:st|rd|th)?(?: of)? [A-Z][a-z]+\.? \d{4}|[A-Z][a-z]+ \d{1,2}, \d{4})(?=\)?$)", text).group(0)
    add(f"Child {text}, referred", "date_of_birth", "dob", value)

# ---- e-mail addresses, plain and obfuscated
for text, fmt in [
    ("jo.bloggs@example.org", "plain"), ("jo.bloggs(at)nhs.net", "(at)"), ("jo [at] nhs [dot] net", "[at] [dot]"),
    ("jo dot bloggs at nhs dot net", "words"), ("jo.bloggs at nhs.net", "plain at"), ("jo(at)essex(dot)gov(dot)uk", "(at)(dot)"),
    ("JO.BLOGGS@NHS.NET", "upper"), ("jo_bloggs＠example.org", "fullwidth @"), ("jo.bloggs {at} example {dot} com", "braces"),
    ("jo.bloggs <at> example.co.uk", "angle"), ("j.smith (at) example (dot) org", "spaced (at)"),
    ("sarah-jane.mcdonald@example.co.uk", "plain hyphen"), ("jo bloggs at example dot com", "words no dot user"),
    ("x" * 80 + "@example.org", "long user part"),
]:
    add(f"Contact {text} today", "email", "email " + fmt, text)

# ---- postcodes with irregular spacing
for text in ["CM1  1AA", "CM11AA", "cm1 1aa", "SW1A 1AA", "co15 2ab", "CM1\t1AA", "E1 6AN", "B33 8TH", "M1 1AE",
             "CR2 6XH", "DN55 1PT", "W1A 0AX", "EC1A 1BB", "CM2   9BE", "ss14 1dl"]:
    add(f"Lives at {text} with mum", "postcode", "postcode", text)

# ---- look-alikes that must survive
neg = []
def none(text, fmt):
    add(text, "none", fmt)
for t in ["Incident on 2021-04-03", "Referred 03/04/2021", "3 April 2021 meeting", "between 2019 and 2023",
          "Q1 2024", "week ending 07/01/2024", "2024-01-01T10:00:00", "Closed 31.03.2022", "Opened 1st May 2020",
          "Reviewed on 12 Sept 2023 by the team", "Period 2021-04 to 2022-03", "Born in the spring of the project: 2024",
          "date of referral 03/04/2011", "12/05/2023 14:30"]:
    none(t, "event date")
for t in ["120 referrals", "Counts: 12, 45, 7", "The rate rose from 0.12 to 0.34", "1,234 cases",
          "0.0002 543.5 208.5", "9 out of 10", "£1,245,000", "1234567890 points", "Reference 2024/001234",
          "Basildon has the most referrals (120).", "n = 4,513", "95% CI 0.61 to 0.74", "age 10-17", "rows 800, valid 790",
          "120 435 6021 total", "p = 0.0123", "AUC 0.74", "Cases per 1,000: 12.4", "300 200 1000 4000", "Year 11 pupils"]:
    none(t, "count")
for t in ["Chelmsford", "Victoria", "Kent", "Jordan", "Chelsea", "Victoria Park", "Kent Police", "Chelsea Harbour",
          "Jordan Valley", "Mark Hall", "Harlow", "Moulsham and Central", "Great Baddow", "Springfield North",
          "St Andrews", "Stanley Park", "Victoria Road", "Grace Church", "Maldon", "Colchester", "Basildon",
          "Braintree", "Epping Forest", "Castle Point", "Rochford", "Tendring", "Uttlesford", "Thurrock",
          "Southend-on-Sea", "Brentwood", "Victoria Station", "King's Lynn", "Kingston upon Hull", "Hope Valley",
          "Sutton Coldfield", "Florence Park", "Milton Keynes", "Warwick Road", "Lincoln City", "Chester Street"]:
    none(t, "place")
for t in ["E07000070", "E10000012", "E05004119", "W06000015", "S12000033", "E01021560", "E02004474",
          "E14000643", "E38000007", "E06000033"]:
    none(t, "council code")
for t in ["Anti-social behaviour", "Violence and sexual offences", "Criminal damage and arson", "Bicycle theft",
          "Theft from the person", "Other theft", "Possession of weapons", "Public order", "Vehicle crime", "Drugs",
          "Burglary", "Robbery", "Shoplifting", "Other crime"]:
    none(t, "crime category")
for t in ["Essex Police", "Metropolitan Police Service", "Avon and Somerset Constabulary", "Thames Valley Police",
          "Devon & Cornwall Police", "Dyfed-Powys Police", "City of London Police", "West Mercia Police",
          "Greater Manchester Police", "North Yorkshire Police", "British Transport Police", "Durham Constabulary"]:
    none(t, "police force")
for t in ["The child has 3 siblings", "called back the next day", "named in the report", "did not miss the bus",
          "Summer Term", "April Fool", "Grace period applies", "Will the council agree?", "May 2021",
          "Mark the date", "met at school. Net result was good", "visit us at www.essex.gov.uk",
          "See https://data.police.uk/docs/", "Chelmsford City Council", "Essex County Council", "Mann-Whitney U test",
          "Kruskal-Wallis test", "Benjamini-Hochberg correction", "Getis-Ord Gi*", "Wilson interval",
          "Pearson correlation", "Anderson-Darling", "Aqua Book", "version 1.2.3", "scikit-learn 1.4.2",
          "python 3.11.7", "work.a434LA", "data/raw/referrals-v2.csv", "/tmp/pytest-of-root/pytest-0/work.b12AB/x",
          "A12 road closure", "M25 J28", "Section 47 enquiry", "NHS England", "call 999 in an emergency",
          "Room 101", "Chelsea Football Club", "Kent Street", "The Lead Analyst", "White British", "Black Caribbean",
          "Mixed White and Asian", "Unknown", "Male", "Female", "Children's Services", "Early Help", "Youth Offending Team",
          "findings/rereferrals-2026-11-24.zip", "Ward: Victoria", "Risk tier: high", "Outcome by district",
          "Referrals by district", "Where referrals come from", "Logistic regression with a temporal split",
          "Counts of referrals by district.", "the name of the ward", "known issues", "named columns",
          "Dr of Philosophy", "called at 5pm", "Reason: school move", "Ms Word document", "Miss out on funding",
          "May Day bank holiday", "Referral from school. Parent agreed to support.", "Telephone call with parent."]:
    none(t, "ordinary")

target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("pii_corpus.csv")
with target.open("w", newline="", encoding="utf-8") as out:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["text", "kind", "value", "format"])
    w.writerows(rows)
print(len(rows), sum(r[1] != "none" for r in rows), sum(r[1] == "none" for r in rows))
