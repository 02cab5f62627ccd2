"""The web chat in a real browser: the distribution's headless Chromium driven over WebDriver
(selenium), against a running local stack (scripts/web-test.sh starts one). Each step writes a
screenshot under the output folder. Exits non-zero on the first step that fails, naming it.

Usage: browser_test.py --url http://127.0.0.1:27160/ --out DIR --run-dir .tools/run
"""

import argparse
import json
import pathlib
import re
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

# 10:00 in New York: inside the basic tier's business hours, so clinic-a's documents answer.
CLOCK = "2026-12-01T15:00:00Z"


class Step:
    def __init__(self, driver, out):
        self.driver = driver
        self.out = out
        self.n = 0

    def shot(self, name):
        self.n += 1
        path = self.out / f"{self.n:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        print(f"    screenshot {path}")


def browser(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def wait(driver, seconds=60):
    return WebDriverWait(driver, seconds, poll_frequency=0.2)


def sign_in(driver, username):
    driver.find_element(By.CSS_SELECTOR, f'button.demo-user[data-username="{username}"]').click()
    driver.find_element(By.ID, "sign-in-button").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "badge")))
    return driver.find_element(By.ID, "badge").text


def sign_out(driver):
    driver.find_element(By.ID, "sign-out").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "sign-in")))
    # Nothing of the previous clinic stays on screen.
    wait(driver).until(ec.invisibility_of_element_located((By.ID, "badge")))
    check(not driver.find_elements(By.CSS_SELECTOR, "#messages li:not([hidden])")
          or not driver.find_element(By.ID, "chat").is_displayed(),
          "signing out hides the conversation")


def ask(driver, prompt):
    """Asks and waits for the assistant's last message to finish; returns that element."""
    box = driver.find_element(By.ID, "prompt")
    box.clear()
    box.send_keys(prompt)
    driver.find_element(By.ID, "ask-button").click()
    wait(driver, 120).until(lambda d: d.execute_script(
        "const m = document.querySelectorAll('#messages .assistant');"
        "return m.length && !m[m.length - 1].hasAttribute('aria-busy');"))
    return driver.find_elements(By.CSS_SELECTOR, "#messages .assistant")[-1]


def requests_left(driver):
    """The number in the header's remaining-requests line, once it shows one."""
    wait(driver).until(lambda d: re.search(r"^\d+ of \d+ requests left today",
                                           d.find_element(By.ID, "quota").text))
    return int(driver.find_element(By.ID, "quota").text.split(" ", 1)[0])


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok  {what}")


def run(url, out, run_dir):
    users = json.loads((run_dir / "devstack.json").read_text())["users"]
    user = {u["clinic_id"]: u["username"] for u in reversed(users)}
    (run_dir / "clock").write_text(CLOCK)
    driver = browser(1280, 900)
    step = Step(driver, out)
    try:
        driver.get(url)
        wait(driver).until(ec.visibility_of_element_located((By.ID, "demo-users")))
        check("LOCAL STACK" in driver.find_element(By.ID, "local-note").text,
              "the page says it runs on the local stand-ins")
        check(driver.find_element(By.CSS_SELECTOR, "label[for=username]").text == "User name",
              "inputs are labelled")
        step.shot("sign-in")

        badge = sign_in(driver, user["clinic-a"])
        check("basic" in badge and "clinician" in badge, f"clinic-a badge shows tier and role: {badge!r}")
        left = requests_left(driver)
        check("resets at midnight UTC" in driver.find_element(By.ID, "quota").text,
              f"the clinic's remaining requests are shown with their reset ({left} left)")
        reply = ask(driver, "What do our clinic documents say about fasting?")
        wait(driver).until(lambda d: requests_left(d) == left - 1)
        check(True, f"asking used one of them ({left - 1} left)")
        check(not driver.find_element(By.ID, "usage-panel").is_displayed(),
              "a clinician sees no usage panel")
        check(not driver.find_element(By.ID, "audit-panel").is_displayed(),
              "a clinician sees no audit trail (GET /audit answers 403 for the role)")
        check(re.search(r"tokens: [\d,.]+ used, [\d,.]+ of [\d,.]+ left today",
                        driver.find_element(By.ID, "quota").text) is not None,
              "the clinic's tokens used and left are shown beside the requests")
        cites = [c.get_attribute("title") for c in reply.find_elements(By.CSS_SELECTOR, ".citations li")]
        check(cites and all("/basic-tier/clinic-a/" in c for c in cites),
              f"the answer cites clinic-a documents only ({len(cites)} cited)")
        trace = reply.find_element(By.CSS_SELECTOR, ".trace").text
        check("searched clinic documents" in trace, f"the trace says what the assistant did: {trace!r}")
        step.shot("clinic-a-answer-with-citations")

        sign_out(driver)
        badge = sign_in(driver, user["hospital-x"])
        check("premium" in badge, f"hospital-x badge shows premium: {badge!r}")
        reply = ask(driver, "Search the web for atrial fibrillation guidance")
        trace = reply.find_element(By.CSS_SELECTOR, ".trace").text
        check("searched the web" in trace, f"premium tools are used: {trace!r}")
        step.shot("hospital-x-premium-tools")

        # The clinic whose demo user is its administrator: the usage panel, its own figures.
        sign_out(driver)
        admin_clinic = next(u["clinic_id"] for u in users if u["role"] == "admin")
        badge = sign_in(driver, user[admin_clinic])
        check("admin" in badge, f"the admin's badge shows the role: {badge!r}")
        ask(driver, "What are our opening hours?")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        wait(driver).until(lambda d: d.find_element(By.ID, "usage-panel").is_displayed()
                           and today in d.find_element(By.ID, "usage-table").text)
        rows = driver.find_elements(By.CSS_SELECTOR, "#usage-table tbody tr")
        cells = [c.text for c in rows[0].find_elements(By.CSS_SELECTOR, "th, td")]
        check(cells[0] == today and int(cells[1]) >= 1 and int(cells[2]) >= 1
              and int(cells[3].replace(",", "")) > 0,
              f"the admin sees today's requests, answers and tokens: {cells}")
        panel = driver.find_element(By.ID, "usage-panel").text
        others = [u["clinic_id"] for u in users if u["clinic_id"] != admin_clinic]
        check(not any(o in panel for o in others), "the panel names no other clinic")
        step.shot("admin-usage-panel")

        # Its patient data access trail: the panel the API lets an admin see, filtered by patient.
        wait(driver).until(lambda d: d.find_element(By.ID, "audit-panel").is_displayed())
        driver.find_element(By.ID, "audit-patient").send_keys("p-1001")
        driver.find_element(By.CSS_SELECTOR, "#audit-form button[type=submit]").click()
        wait(driver).until(lambda d: "No access recorded" in d.find_element(By.ID, "audit-table").text
                           or len(d.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr td")) >= 6)
        trail = driver.find_element(By.ID, "audit-panel").text
        check(not any(o in trail for o in others) and "p-1001" not in
              driver.find_element(By.CSS_SELECTOR, "#audit-table tbody").text,
              "the admin's trail holds its own clinic's accesses only (clinic-a's p-1001 is not in it)")
        check(not driver.find_element(By.ID, "audit-error").is_displayed(), "the filtered read is accepted")
        step.shot("admin-audit-panel")

        sign_out(driver)
        sign_in(driver, user["clinic-a"])
        message = ""
        for _ in range(8):
            # A burst from the same user past the basic plan's rate (2/s, burst 5), cheap for
            # the stack (an empty body is refused by the proxy after API Gateway counted it),
            # then a question of the clinician's while the bucket is empty.
            driver.execute_script(
                "for (let i = 0; i < 12; i++) fetch(state.config.apiUrl, {method: 'POST',"
                " headers: {Authorization: 'Bearer ' + state.idToken}, body: '{}'});")
            reply = ask(driver, "What time is it at the clinic?")
            message = reply.text
            if "too many requests" in message:
                break
        check("too many requests" in message, f"a throttled request says so: {message!r}")
        step.shot("clinic-a-throttled")

        # A deployment signs in with Cognito's managed login (code flow with PKCE); its
        # client side, checked here without Cognito.
        challenge = driver.execute_async_script(
            "pkceChallenge(arguments[0]).then(arguments[1])",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        check(challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
              "the PKCE challenge is RFC 7636's S256 (its appendix B example)")
        login = driver.execute_async_script(
            "const done = arguments[0];"
            "state.config.cognito.signInUrl = 'https://login.example';"
            "state.config.cognito.redirectUri = location.origin + '/';"
            "managedLoginUrl().then(async (u) => {"
            "  const saved = JSON.parse(sessionStorage.getItem('tenantry-pkce'));"
            "  done({url: u, saved: saved, challenge: await pkceChallenge(saved.verifier)});"
            "});")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(login["url"]).query))
        check(login["url"].startswith("https://login.example/oauth2/authorize?")
              and query["response_type"] == "code" and query["code_challenge_method"] == "S256"
              and query["code_challenge"] == login["challenge"]
              and query["state"] == login["saved"]["state"] and "code_verifier" not in query,
              "the sign-in address carries the challenge and a state, never the verifier")
        outcome = driver.execute_async_script(
            "const done = arguments[0];"
            "history.replaceState(null, '', '?code=stolen&state=forged');"
            "finishManagedLogin().then(() => done('accepted'), (e) => done("
            "  e.message + '|' + location.search));")
        check(outcome.startswith("That sign-in did not start on this page") and outcome.endswith("|"),
              f"a code from a sign-in this page did not start is refused and leaves the address: {outcome!r}")
        crafted = driver.execute_async_script(
            "const done = arguments[0];"
            "history.replaceState(null, '', '?error=server_error&error_description='"
            "  + encodeURIComponent('Your account is locked: call +1 555 0100'));"
            "finishManagedLogin().then(() => done('accepted'), (e) => done(e.message));")
        check(crafted == "Sign-in was not completed; try again.",
              f"a crafted error_description in the address is never shown, a fixed text is: {crafted!r}")

        # Phone width: the same page, one column.
        driver.set_window_size(390, 844)
        time.sleep(0.3)
        width = driver.execute_script("return document.documentElement.scrollWidth")
        check(width <= 390, f"no horizontal scrolling at phone width ({width}px)")
        step.shot("phone-width")
    finally:
        (run_dir / "clock").unlink(missing_ok=True)
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--run-dir", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        run(args.url, args.out, args.run_dir)
    except (AssertionError, TimeoutException) as e:
        print(f"FAILED: {e or 'timed out waiting for the page'}", file=sys.stderr)
        return 1
    print("web chat: every step passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
