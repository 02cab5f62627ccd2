// The clinic assistant in the browser: signs in with the Cognito user pool, then asks the
// clinic's assistant through the same API every client uses (POST /invoke with the ID token),
// showing the streamed events as they arrive. No framework: the page is small, and every
// dependency here would be one more thing a hospital's reviewers must vet.
"use strict";

const state = {
  config: null,
  idToken: null,
  claims: null,
  session: null, // the conversation's id, as the API returned it
  busy: false,
  challenge: null, // an MFA challenge waiting for its code: { name, session }
};

const $ = (id) => document.getElementById(id);

// What the trace says for each tool, before and after it ran.
const TOOL_LABELS = {
  patient_context: ["checking patient records", "checked patient records"],
  clinic_config: ["reading the clinic's settings", "read the clinic's settings"],
  retrieve_clinic_documents: ["searching clinic documents", "searched clinic documents"],
  web_search: ["searching the web", "searched the web"],
  current_time: ["checking the clinic's time", "checked the clinic's time"],
};

function toolLabel(tool, done) {
  const labels = TOOL_LABELS[tool] || [`using ${tool}`, `used ${tool}`];
  return labels[done ? 1 : 0];
}

async function loadConfig() {
  const resp = await fetch("config.json", { cache: "no-store" });
  if (!resp.ok) throw new Error(`config.json: HTTP ${resp.status}`);
  return resp.json();
}

// ---- Sign-in (Cognito user pool API; the local stand-in pool allows USER_PASSWORD_AUTH) ----

async function cognito(target, body) {
  const resp = await fetch(state.config.cognito.endpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}`,
    },
    body: JSON.stringify(body),
  });
  const reply = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const kind = (reply.__type || "").split("#").pop();
    const err = new Error(signInMessage(kind, reply.message));
    err.kind = kind;
    throw err;
  }
  return reply;
}

function signInMessage(kind, message) {
  switch (kind) {
    case "NotAuthorizedException":
      return "The user name or password is not right, or the account is disabled.";
    case "UserNotFoundException":
      return "The user name or password is not right.";
    case "CodeMismatchException":
      return "That code is not right; use the current code from your authenticator app.";
    case "PasswordResetRequiredException":
      return "Your password must be reset; ask your clinic's administrator.";
    case "TooManyRequestsException":
    case "LimitExceededException":
      return "Too many sign-in attempts; wait a minute and try again.";
    default:
      return message || "Sign-in failed; try again.";
  }
}

async function signIn(event) {
  event.preventDefault();
  const error = $("sign-in-error");
  error.hidden = true;
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    showError(error, "Enter your user name and password.");
    return;
  }
  const button = $("sign-in-button");
  button.disabled = true;
  try {
    const clientId = state.config.cognito.clientId;
    let reply;
    if (state.challenge) {
      reply = await cognito("RespondToAuthChallenge", {
        ClientId: clientId,
        ChallengeName: state.challenge.name,
        Session: state.challenge.session,
        ChallengeResponses: { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: $("mfa-code").value.trim() },
      });
    } else {
      reply = await cognito("InitiateAuth", {
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: clientId,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      });
    }
    if (reply.ChallengeName === "SOFTWARE_TOKEN_MFA") {
      state.challenge = { name: reply.ChallengeName, session: reply.Session };
      $("mfa").hidden = false;
      $("mfa-code").focus();
      return;
    }
    if (reply.ChallengeName) {
      throw new Error(`This account needs a step the page does not offer (${reply.ChallengeName}); ask your administrator.`);
    }
    const token = reply.AuthenticationResult && reply.AuthenticationResult.IdToken;
    if (!token) throw new Error("The user pool answered without an ID token.");
    signedIn(token);
  } catch (e) {
    showError(error, e.message);
  } finally {
    button.disabled = false;
  }
}

// ---- Managed login (a deployment): Cognito's hosted sign-in, authorization code with PKCE ----
// The deployed app client allows no password sign-in from a browser; the page never sees a
// password there, and MFA is Cognito's to ask for.

function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes) {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return base64url(b);
}

// RFC 7636 S256: BASE64URL(SHA-256(verifier)).
async function pkceChallenge(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

// The sign-in page's address for a new attempt; its verifier waits in this tab's storage.
async function managedLoginUrl() {
  const c = state.config.cognito;
  const verifier = randomString(32);
  const nonce = randomString(16);
  sessionStorage.setItem("tenantry-pkce", JSON.stringify({ verifier, state: nonce }));
  const url = new URL("/oauth2/authorize", c.signInUrl);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: c.clientId,
    redirect_uri: c.redirectUri,
    scope: "openid",
    state: nonce,
    code_challenge: await pkceChallenge(verifier),
    code_challenge_method: "S256",
  }).toString();
  return url.toString();
}

async function startManagedLogin() {
  location.assign(await managedLoginUrl());
}

// Back from the sign-in page with `?code=...&state=...`: the code and this page's verifier
// buy the ID token. Returns whether the address held a sign-in result.
async function finishManagedLogin() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  // The code is single-use; it leaves the address bar (and history) at once.
  history.replaceState(null, "", location.pathname);
  const saved = JSON.parse(sessionStorage.getItem("tenantry-pkce") || "null");
  sessionStorage.removeItem("tenantry-pkce");
  if (params.has("error")) {
    // A fixed text: the address bar is anyone's to write (a crafted link could make this
    // page say anything in its own voice), so `error_description` is never shown.
    throw new Error(
      params.get("error") === "access_denied"
        ? "Sign-in was cancelled or refused; try again."
        : "Sign-in was not completed; try again.",
    );
  }
  if (!saved || saved.state !== params.get("state")) {
    throw new Error("That sign-in did not start on this page; sign in again.");
  }
  const c = state.config.cognito;
  const resp = await fetch(new URL("/oauth2/token", c.signInUrl).toString(), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: c.clientId,
      code: params.get("code"),
      redirect_uri: c.redirectUri,
      code_verifier: saved.verifier,
    }).toString(),
  });
  const reply = await resp.json().catch(() => ({}));
  if (!resp.ok || !reply.id_token) {
    throw new Error("Sign-in could not be completed; sign in again.");
  }
  signedIn(reply.id_token);
  return true;
}

function decodeClaims(token) {
  let part = (token.split(".")[1] || "").replace(/-/g, "+").replace(/_/g, "/");
  while (part.length % 4) part += "=";
  const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function signedIn(token) {
  state.idToken = token;
  // Read only to show the badge: the API verifies the token and decides everything.
  state.claims = decodeClaims(token);
  state.session = null;
  state.challenge = null;
  $("mfa").hidden = true;
  $("password").value = "";
  const clinic = state.claims["custom:clinic_id"];
  const known = (state.config.demoUsers || []).find((u) => u.clinicId === clinic);
  const badge = $("badge");
  badge.replaceChildren(
    span("badge-clinic", known ? known.clinicName : clinic),
    span(`badge-tier tier-${state.claims["custom:tier"]}`, state.claims["custom:tier"]),
    span("badge-role", state.claims["custom:role"]),
  );
  badge.setAttribute("aria-label",
    `Signed in to ${known ? known.clinicName : clinic}, ${state.claims["custom:tier"]} tier, as ${state.claims["custom:role"]}`);
  badge.hidden = false;
  $("sign-out").hidden = false;
  $("sign-in").hidden = true;
  $("chat").hidden = false;
  $("messages").replaceChildren();
  $("prompt").focus();
  loadUsage();
  loadAudit(false);
}

function signOut() {
  const managed = state.config && state.config.cognito && state.config.cognito.signInUrl;
  state.idToken = null;
  state.claims = null;
  state.session = null;
  $("badge").hidden = true;
  $("quota").hidden = true;
  $("usage-panel").hidden = true;
  $("audit-panel").hidden = true;
  $("sign-out").hidden = true;
  $("chat").hidden = true;
  $("sign-in").hidden = false;
  if (managed) {
    // Also end the session at the sign-in domain, or the next sign-in would skip the password.
    const c = state.config.cognito;
    const url = new URL("/logout", c.signInUrl);
    url.search = new URLSearchParams({ client_id: c.clientId, logout_uri: c.redirectUri }).toString();
    location.assign(url.toString());
    return;
  }
  $("username").focus();
}

function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

function showError(el, text) {
  el.textContent = text;
  el.hidden = false;
}

// ---- The clinic's day: remaining requests for everyone, the usage panel for its admin ----

async function loadUsage() {
  const token = state.idToken;
  if (!token || !state.config.usageUrl) return;
  const line = $("quota");
  try {
    const resp = await fetch(state.config.usageUrl, {
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
    });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const usage = await resp.json();
    // Signed out, or in as someone else, meanwhile: not theirs to see.
    if (state.idToken !== token) return;
    showUsage(usage);
  } catch (_) {
    if (state.idToken !== token) return;
    // The chat works without it; say so quietly rather than show a stale number.
    line.className = "quota";
    line.textContent = "Remaining requests: not available right now";
    line.hidden = false;
  }
}

function untilReset(iso) {
  const ms = Date.parse(iso) - Date.now();
  if (!(ms > 0)) return "";
  const h = Math.floor(ms / 3600000);
  const m = Math.max(1, Math.round((ms % 3600000) / 60000));
  return h > 0 ? ` (in ${h} h ${m} min)` : ` (in ${m} min)`;
}

function showUsage(u) {
  const line = $("quota");
  const q = u.quota || {};
  if (typeof q.remaining === "number") {
    line.textContent = `${q.remaining} of ${q.limit} requests left today for your clinic; resets at midnight UTC${untilReset(q.resets_at)}`;
    line.className = q.remaining === 0 ? "quota none" : q.remaining <= q.limit / 10 ? "quota low" : "quota";
    const t = u.tokens && u.tokens.day;
    if (t && typeof t.used === "number") {
      const left = Math.max(0, t.limit - t.used);
      const fmt = (v) => new Intl.NumberFormat().format(v);
      line.textContent += ` · tokens: ${fmt(t.used)} used, ${fmt(left)} of ${fmt(t.limit)} left today`;
      if (left === 0) line.className = "quota none";
      else if (left <= t.limit / 5 && line.className === "quota") line.className = "quota low";
    }
  } else {
    line.textContent = `Your clinic's limit: ${q.limit} requests per ${String(q.period || "").toLowerCase()}`;
    line.className = "quota";
  }
  line.hidden = false;
  const panel = $("usage-panel");
  if (!Array.isArray(u.days)) {
    panel.hidden = true;
    return;
  }
  const money = (v) => new Intl.NumberFormat(undefined, {
    style: "currency", currency: u.currency || "USD", minimumFractionDigits: 2, maximumFractionDigits: 6,
  }).format(v);
  const num = (v) => new Intl.NumberFormat().format(v);
  const row = (cells, header) => {
    const tr = document.createElement("tr");
    cells.forEach((c, i) => {
      const td = document.createElement(i === 0 && header ? "th" : "td");
      if (i === 0 && header) td.scope = "row";
      td.textContent = c;
      tr.append(td);
    });
    return tr;
  };
  const body = panel.querySelector("tbody");
  const total = { requests: 0, turns: 0, input_tokens: 0, output_tokens: 0, estimated_cost: 0 };
  const rows = u.days.slice().reverse().map((d) => {
    for (const k of Object.keys(total)) total[k] += d[k] || 0;
    return row([d.day, num(d.requests), num(d.turns), num(d.input_tokens), num(d.output_tokens), money(d.estimated_cost)], true);
  });
  body.replaceChildren(...(rows.length ? rows : [row(["No use in the last 7 days", "", "", "", "", ""], true)]));
  panel.querySelector("tfoot").replaceChildren(
    row(["Total", num(total.requests), num(total.turns), num(total.input_tokens), num(total.output_tokens), money(total.estimated_cost)]),
  );
  panel.hidden = false;
}

// ---- The clinic's audit trail, for the roles that may read it (the API says which) ----

const audit = { next: null };

function auditQuery(extra) {
  const q = new URLSearchParams();
  for (const [id, name] of [["audit-patient", "patient"], ["audit-user", "user"], ["audit-from", "from"], ["audit-to", "to"]]) {
    const v = $(id).value.trim();
    if (v) q.set(name, v);
  }
  q.set("limit", "50");
  if (extra) q.set("next_token", extra);
  return q.toString();
}

async function loadAudit(more) {
  const token = state.idToken;
  if (!token || !state.config.auditUrl) return;
  const panel = $("audit-panel");
  const error = $("audit-error");
  let resp;
  try {
    resp = await fetch(`${state.config.auditUrl}?${auditQuery(more ? audit.next : null)}`, {
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
    });
  } catch (_) {
    if (state.idToken !== token) return;
    error.textContent = "The audit trail could not be reached right now.";
    error.hidden = false;
    return;
  }
  if (state.idToken !== token) return;
  // Not for this role (or not deployed): no panel at all.
  if (resp.status === 403 || resp.status === 501) {
    panel.hidden = true;
    return;
  }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    error.textContent = (body.error && body.error.message) || `The audit trail could not be read (HTTP ${resp.status}).`;
    error.hidden = false;
    panel.hidden = false;
    return;
  }
  error.hidden = true;
  const rows = (body.events || []).map((e) => {
    const tr = document.createElement("tr");
    const ids = [].concat(e.patient_ids || [], e.document_ids || [], e.memory_record_ids || []);
    const decision = e.decision === "allowed" ? "allowed"
      : e.decision === "denied" ? `denied (${e.denied_by}: ${e.reason})` : `${e.decision} (${e.reason || ""})`;
    for (const [text, cls] of [
      [String(e.time || "").replace("T", " ").replace(/\.\d+Z$|Z$/, ""), ""],
      [String(e.user || "").slice(0, 8), ""],
      [e.role || "", ""],
      [e.access || "", ""],
      [ids.join(", "), ""],
      [decision, e.decision === "allowed" ? "" : "denied"],
    ]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  });
  const tbody = $("audit-table").querySelector("tbody");
  if (more) {
    tbody.append(...rows);
  } else if (rows.length) {
    tbody.replaceChildren(...rows);
  } else {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 6;
    td.textContent = `No access recorded from ${String(body.from || "").slice(0, 10)} to ${String(body.to || "").slice(0, 10)}.`;
    tr.append(td);
    tbody.replaceChildren(tr);
  }
  audit.next = body.next_token || null;
  $("audit-more").hidden = !audit.next;
  panel.hidden = false;
}

// ---- Asking ----

function addMessage(role, text) {
  const li = document.createElement("li");
  li.className = `message ${role}`;
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  li.append(body);
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

// Citations: the assistant cites documents by their s3:// source; shown by name and type.
function citations(answer) {
  const seen = new Set();
  const found = [];
  for (const m of answer.matchAll(/s3:\/\/[^\s)\]"'>,]+/g)) {
    const uri = m[0].replace(/[.;:]+$/, "");
    if (seen.has(uri)) continue;
    seen.add(uri);
    const parts = uri.split("/");
    const file = parts[parts.length - 1];
    const type = parts.length > 2 ? parts[parts.length - 2].replace(/-/g, " ") : "document";
    found.push({ uri, name: file.replace(/\.[a-z0-9]+$/i, "").replace(/[-_]/g, " "), type });
  }
  return found;
}

function traceLine(li, text, kind) {
  let trace = li.querySelector(".trace");
  if (!trace) {
    trace = document.createElement("ul");
    trace.className = "trace";
    trace.setAttribute("aria-label", "What the assistant did");
    li.prepend(trace);
  }
  const item = document.createElement("li");
  item.className = kind || "";
  item.textContent = text;
  trace.append(item);
  return item;
}

function finish(li, answer, final) {
  const text = li.querySelector(".text");
  const cites = citations(answer || "");
  // Sources are numbered in the text and listed by name and type below it.
  let shown = answer || "(no answer)";
  cites.forEach((c, i) => {
    shown = shown.split(`[${c.uri}]`).join(`[${i + 1}]`).split(c.uri).join(`[${i + 1}]`);
  });
  text.textContent = shown;
  if (cites.length) {
    const list = document.createElement("ol");
    list.className = "citations";
    list.setAttribute("aria-label", "Sources");
    cites.forEach((c, i) => {
      const item = document.createElement("li");
      item.title = c.uri;
      item.append(span("cite-n", `[${i + 1}]`), span("cite-name", c.name), span("cite-type", c.type));
      list.append(item);
    });
    li.append(list);
  }
  if (final) {
    const notes = [];
    if (final.tools === "skipped") notes.push("tools were unavailable, so this answer does not use your clinic's records");
    if (final.memory === "skipped") notes.push("this turn was not remembered");
    if (final.stop_reason === "guardrail_intervened") notes.push("the content filter changed this answer");
    if (final.stop_reason === "max_rounds" || final.stop_reason === "token_budget") notes.push("the answer was cut short");
    for (const n of notes) traceLine(li, n, "warn");
  }
}

// What a clinician is told for each refusal; `retryAfter` from API Gateway when throttled.
function refusal(status, errorType, body) {
  const code = (body && body.error && (body.error.code || body.error)) || "";
  if (status === 401) return "Your sign-in has expired or is not valid. Sign in again.";
  if (status === 403 && code === "session_not_owned") return "That conversation is not yours; a new one was started.";
  if (status === 403 && code === "session_expired") return "That conversation has ended (conversations last at most 8 hours). Ask again to start a new one.";
  if (status === 403) return "You are not allowed to do that. If your clinic's access was suspended, contact your administrator.";
  if (status === 429 && errorType === "LimitExceededException") {
    return "Your clinic has used all of today's requests. The limit resets at midnight UTC.";
  }
  if (status === 429 && code === "budget_exhausted") {
    const when = body.error.resets_at ? untilReset(body.error.resets_at) : "";
    return `Your clinic has used its token budget; it starts again at ${body.error.resets_at || "the next reset"}${when}. Your administrator can ask for a larger budget.`;
  }
  if (status === 429) return "Your clinic is sending too many requests right now. Wait a few seconds and ask again.";
  if (status === 413 || code === "prompt_too_large") return "That question is too long; shorten it and ask again.";
  if (status >= 500) return "The assistant is unavailable right now. Try again in a minute.";
  return (body && body.error && body.error.message) || `The request was refused (HTTP ${status}).`;
}

async function ask(event) {
  event.preventDefault();
  if (state.busy) return;
  const prompt = $("prompt").value.trim();
  if (!prompt) return;
  state.busy = true;
  $("ask-button").disabled = true;
  $("prompt").value = "";
  addMessage("user", prompt);
  const li = addMessage("assistant", "…");
  li.setAttribute("aria-busy", "true");
  let answer = "";
  let final = null;
  const running = new Map();
  try {
    const body = { prompt };
    if (state.session) body.session_id = state.session;
    const resp = await fetch(state.config.apiUrl, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "text/event-stream, application/json",
        Authorization: `Bearer ${state.idToken}`,
      },
      body: JSON.stringify(body),
    });
    const session = resp.headers.get("x-tenantry-session-id");
    if (!resp.ok) {
      const reply = await resp.json().catch(() => null);
      const code = reply && reply.error && reply.error.code;
      if (resp.status === 403 && (code === "session_not_owned" || code === "session_expired")) {
        state.session = null;
      }
      li.classList.add("refused");
      li.querySelector(".text").textContent =
        refusal(resp.status, resp.headers.get("x-amzn-errortype"), reply);
      if (resp.status === 401) setTimeout(signOut, 2500);
      return;
    }
    if (session) state.session = session;
    const onEvent = (e) => {
      switch (e.type) {
        case "tool_start":
          running.set(e.tool, traceLine(li, `${toolLabel(e.tool, false)}…`, "running"));
          break;
        case "tool_end": {
          const item = running.get(e.tool) || traceLine(li, "");
          running.delete(e.tool);
          item.className = e.status;
          item.textContent =
            e.status === "ok" ? toolLabel(e.tool, true)
            : e.status === "denied" ? `denied by policy: ${toolLabel(e.tool, false)}`
            : e.status === "unavailable" ? `unavailable: ${toolLabel(e.tool, false)}`
            : `could not finish ${toolLabel(e.tool, false)}`;
          break;
        }
        case "text_delta":
          answer += e.text;
          li.querySelector(".text").textContent = answer;
          break;
        case "final":
          final = e;
          break;
        case "error":
          li.classList.add("refused");
          answer = e.retryable
            ? "The assistant could not finish this answer because a service it needs is unavailable. Try again in a minute."
            : `The assistant could not answer (${e.error}).`;
          break;
      }
    };
    const type = resp.headers.get("content-type") || "";
    if (type.includes("text/event-stream")) {
      await readEvents(resp.body, onEvent);
    } else {
      // A buffered deployment answers one JSON object of the same content.
      const reply = await resp.json();
      for (const t of reply.tool_calls || []) onEvent({ type: "tool_end", ...t });
      if (reply.answer) onEvent({ type: "text_delta", text: reply.answer });
      if (reply.error) onEvent({ type: "error", ...reply });
      else onEvent({ type: "final", ...reply });
    }
    finish(li, answer, final);
  } catch (e) {
    li.classList.add("refused");
    li.querySelector(".text").textContent =
      "The assistant cannot be reached. Check your connection and try again.";
  } finally {
    li.removeAttribute("aria-busy");
    state.busy = false;
    loadUsage();
    // The trail may hold this turn's accesses now (an admin watching it).
    if (!$("audit-panel").hidden) loadAudit(false);
    $("ask-button").disabled = false;
    $("prompt").focus();
  }
}

// Server-Sent Events from a fetch body: frames end with a blank line; `data:` lines hold JSON.
async function readEvents(stream, onEvent) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let end;
    while ((end = pending.indexOf("\n\n")) >= 0) {
      const frame = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
      if (!data) continue;
      try {
        onEvent(JSON.parse(data));
      } catch (_) {
        // Not an event of ours (a comment or keep-alive); skipped.
      }
    }
  }
}

// ---- Start ----

function showDemoUsers(users) {
  if (!users || !users.length) return;
  const list = $("demo-user-list");
  for (const u of users) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "demo-user";
    b.dataset.username = u.username;
    b.append(span("badge-clinic", u.clinicName), span(`badge-tier tier-${u.tier}`, u.tier), span("badge-role", u.role));
    b.addEventListener("click", () => {
      $("username").value = u.username;
      $("password").value = u.password;
      $("sign-in-button").focus();
    });
    li.append(b);
    list.append(li);
  }
  $("demo-users").hidden = false;
}

async function start() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("ask-form").addEventListener("submit", ask);
  $("sign-out").addEventListener("click", signOut);
  $("audit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    loadAudit(false);
  });
  $("audit-more").addEventListener("click", () => loadAudit(true));
  $("new-conversation").addEventListener("click", () => {
    state.session = null;
    $("messages").replaceChildren();
    $("prompt").focus();
  });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  try {
    state.config = await loadConfig();
  } catch (e) {
    showError($("sign-in-error"), `The page is not configured (${e.message}).`);
    return;
  }
  if (state.config.cognito && state.config.cognito.signInUrl) {
    $("sign-in-form").hidden = true;
    $("managed-sign-in").hidden = false;
    $("managed-sign-in-button").addEventListener("click", () => {
      startManagedLogin().catch((e) => showError($("managed-sign-in-error"), e.message));
    });
    try {
      if (!(await finishManagedLogin())) $("managed-sign-in-button").focus();
    } catch (e) {
      showError($("managed-sign-in-error"), e.message);
    }
    return;
  }
  if (state.config.local) {
    const note = $("local-note");
    note.textContent = state.config.localNote ||
      "Local stack: stand-in services and a deterministic model stand-in, not AWS and not a language model.";
    note.hidden = false;
  }
  showDemoUsers(state.config.demoUsers);
}

document.addEventListener("DOMContentLoaded", start);
