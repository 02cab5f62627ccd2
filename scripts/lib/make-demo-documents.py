#!/usr/bin/env python3
"""Writes the SYNTHETIC demo document set under infra/demo-documents/, in the deployed layout:
<tier>-tier/<clinic>/<document-type>/<name>.md with a Bedrock Knowledge Base metadata sidecar
<name>.md.metadata.json ({"metadataAttributes": {clinic_id, tier, document_type}}).

Deterministic: the same tenants and patients give the same files. Every document names its
clinic and carries the clinic's marker (DOC-<clinic>-<n>) so tests can tell whose it is.
Invented content only: no real clinic, person or patient. Usage: scripts/lib/make-demo-documents.py
"""
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "infra" / "demo-documents"
TYPES = {
    "basic": ["appointment-notes", "lab-results", "patient-intake", "prescriptions"],
    "premium": ["surgical-notes", "pathology-reports", "imaging-studies"],
}
BODIES = {
    "appointment-notes": "Follow-up visit. {name} reports {finding}. Plan: review in {weeks} weeks; continue current care.",
    "lab-results": "Laboratory panel for {name}: HbA1c {a1c}%, LDL {ldl} mg/dL, eGFR {egfr}. Comment: {finding}.",
    "patient-intake": "Intake form for {name}. Presenting concern: {finding}. Allergies reviewed; consent for care recorded.",
    "prescriptions": "Prescription for {name}: {drug} {dose} mg once daily for {weeks} weeks. Pharmacist check completed.",
    "surgical-notes": "Operative note for {name}: {procedure} performed without complication. Estimated blood loss {ebl} mL.",
    "pathology-reports": "Pathology report for {name}: specimen from {procedure}. Findings: {finding}. Margins clear.",
    "imaging-studies": "Imaging study for {name}: {modality} of the {site}. Impression: {finding}.",
}
FINDINGS = {
    "appointment-notes": ["stable blood pressure", "improved sleep", "mild seasonal asthma",
                          "no new symptoms", "reduced joint pain"],
    "lab-results": ["elevated fasting glucose", "within reference ranges", "mild anaemia",
                    "borderline LDL cholesterol"],
    "patient-intake": ["persistent cough for two weeks", "lower back pain", "routine check-up",
                       "fatigue and poor sleep"],
    "prescriptions": [""],
    "surgical-notes": [""],
    "pathology-reports": ["benign fibrous tissue", "chronic inflammation, no malignancy",
                          "reactive lymph node changes"],
    "imaging-studies": ["no acute abnormality", "small simple cyst, no follow-up needed",
                        "mild degenerative change"],
}
DRUGS = ["metformin", "lisinopril", "atorvastatin", "amlodipine", "levothyroxine"]
PROCEDURES = ["laparoscopic cholecystectomy", "coronary angiography", "knee arthroscopy",
              "core needle biopsy", "appendectomy"]
MODALITIES = [("CT", "chest"), ("MRI", "lumbar spine"), ("ultrasound", "abdomen"), ("X-ray", "left wrist")]
DOCS_PER_CLINIC = 11


def main() -> None:
    tenants = json.loads((ROOT / "infra" / "demo-tenants.json").read_text())["clinics"]
    patients = json.loads((ROOT / "infra" / "demo-patients.json").read_text())["patients"]
    if OUT.exists():
        shutil.rmtree(OUT)
    count = 0
    for ci, clinic in enumerate(tenants):
        cid, tier = clinic["clinic_id"], clinic["tier"]
        own = [p for p in patients if p["clinic_id"] == cid]
        for n in range(DOCS_PER_CLINIC):
            doc_type = TYPES[tier][n % len(TYPES[tier])]
            patient = own[n % len(own)]
            k = ci * 7 + n
            modality, site = MODALITIES[k % len(MODALITIES)]
            body = BODIES[doc_type].format(
                name=patient["name"], finding=FINDINGS[doc_type][k % len(FINDINGS[doc_type])], weeks=2 + k % 6,
                a1c=round(5.2 + (k % 9) * 0.3, 1), ldl=90 + (k * 7) % 70, egfr=60 + (k * 5) % 35,
                drug=DRUGS[k % len(DRUGS)], dose=(5, 10, 20, 40)[k % 4],
                procedure=PROCEDURES[k % len(PROCEDURES)], ebl=20 + (k * 13) % 200,
                modality=modality, site=site)
            name = f"{doc_type}-{n + 1:02d}-{patient['patient_id']}.md"
            folder = OUT / f"{tier}-tier" / cid / doc_type
            folder.mkdir(parents=True, exist_ok=True)
            title = doc_type.replace("-", " ").capitalize()
            (folder / name).write_text(
                f"# {title}: {patient['name']} ({patient['patient_id']})\n\n"
                f"{clinic['name']} ({cid}), {tier} tier. Document DOC-{cid}-{n + 1:02d}.\n\n"
                f"{body}\n\nSYNTHETIC demo document: invented content, no real patient.\n")
            (folder / f"{name}.metadata.json").write_text(json.dumps(
                {"metadataAttributes": {"clinic_id": cid, "tier": tier, "document_type": doc_type}},
                indent=2) + "\n")
            count += 1
    print(f"wrote {count} documents under {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
