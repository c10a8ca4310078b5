"""Walk the sandbox's OAuth 2.0 authorization-code flow over real HTTP, as a browser would.

    tokens = authorize(sandbox.base_url, client_id=..., client_secret=..., redirect_uri=...,
                       username="pm@example.com", password="pm-demo-password")

Sign-in form → consent page ("Allow access") → redirect carrying the code → token endpoint.
Used by the sandbox's own tests and by the Rally client's tests.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

TIMEOUT = 30


class OAuthFlowError(AssertionError):
    """The flow did not go as a browser would see it; the message says where."""


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    # Button label (and aria-label) → "name=value".
    buttons: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: tuple[str, str] | None = None
        self._label: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get")))
        elif tag == "input" and self.forms and a.get("name"):
            if a.get("type") not in ("submit", "button"):
                self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms:
            self._button = (a.get("name", ""), a.get("value", ""))
            self._label = []
            if a.get("aria-label"):
                self.forms[-1].buttons[a["aria-label"]] = "=".join(self._button)

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            label = " ".join("".join(self._label).split())
            self.forms[-1].buttons[label] = "=".join(self._button)
            self._button = None


def forms_in(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _form_with(html: str, *, field_name: str | None = None, button: str | None = None) -> Form:
    for form in forms_in(html):
        if field_name and field_name in form.fields:
            return form
        if button and button in form.buttons:
            return form
    wanted = field_name or button
    raise OAuthFlowError(f"No form with {wanted!r} on the page:\n{html[:2000]}")


def _submit(
    session: requests.Session, page: requests.Response, form: Form, extra: dict[str, str]
) -> requests.Response:
    data = {**form.fields, **extra}
    url = urljoin(page.url, form.action or page.url)
    # Django checks the Referer of HTTPS form posts, as a browser would send it.
    return session.post(
        url, data=data, headers={"Referer": page.url}, allow_redirects=False, timeout=TIMEOUT
    )


def authorization_url(
    base_url: str, *, client_id: str, redirect_uri: str, state: str, scope: str = "alm"
) -> str:
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
        }
    )
    return f"{base_url}/login/oauth2/auth?{query}"


def get_code(
    base_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
    session: requests.Session | None = None,
    decision: str = "Allow access",
    state: str | None = None,
) -> dict[str, list[str]]:
    """Sign in (unless the session already is) and answer the consent page.

    Returns the query of the redirect to `redirect_uri` (`code` and `state`, or `error`).
    """
    session = session or requests.Session()
    state = state or secrets.token_urlsafe(12)
    url = authorization_url(base_url, client_id=client_id, redirect_uri=redirect_uri, state=state)
    page = session.get(url, allow_redirects=True, timeout=TIMEOUT)
    if page.status_code != 200:
        raise OAuthFlowError(f"GET {url} answered {page.status_code}:\n{page.text[:2000]}")

    if _has_field(page.text, "password"):
        form = _form_with(page.text, field_name="password")
        answer = _submit(session, page, form, {"username": username, "password": password})
        if answer.status_code != 302:
            raise OAuthFlowError(f"Sign-in failed ({answer.status_code}):\n{answer.text[:2000]}")
        page = session.get(
            urljoin(page.url, answer.headers["Location"]), allow_redirects=True, timeout=TIMEOUT
        )

    form = _form_with(page.text, button=decision)
    name, _, value = form.buttons[decision].partition("=")
    answer = _submit(session, page, form, {name: value} if name else {})
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or not location.startswith(redirect_uri):
        raise OAuthFlowError(
            f"Consent did not redirect to {redirect_uri} ({answer.status_code} {location!r})"
        )
    query = parse_qs(urlsplit(location).query)
    if query.get("state") != [state]:
        raise OAuthFlowError(f"The redirect carried state {query.get('state')}, not {state!r}")
    return query


def _has_field(html: str, name: str) -> bool:
    return any(name in form.fields for form in forms_in(html))


def exchange_code(
    base_url: str,
    *,
    code: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    verify: bool | str = True,
) -> requests.Response:
    return requests.post(
        f"{base_url}/login/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
        },
        timeout=TIMEOUT,
        verify=verify,
    )


def refresh(
    base_url: str,
    *,
    refresh_token: str,
    client_id: str,
    client_secret: str,
    verify: bool | str = True,
) -> requests.Response:
    return requests.post(
        f"{base_url}/login/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        },
        timeout=TIMEOUT,
        verify=verify,
    )


def authorize(
    base_url: str,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    username: str,
    password: str,
    session: requests.Session | None = None,
) -> dict:
    """The whole flow: sign in, allow access, exchange the code; returns the token response."""
    query = get_code(
        base_url,
        client_id=client_id,
        redirect_uri=redirect_uri,
        username=username,
        password=password,
        session=session,
    )
    if "code" not in query:
        raise OAuthFlowError(f"No code in the redirect: {query}")
    answer = exchange_code(
        base_url,
        code=query["code"][0],
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        verify=session.verify if session is not None else True,
    )
    if answer.status_code != 200:
        raise OAuthFlowError(f"Token endpoint answered {answer.status_code}: {answer.text}")
    return answer.json()
