// The year-in-pixels page: plain JavaScript against the app's JSON API, the bearer token in localStorage.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { token: localStorage.getItem('token'), year: null, days: {}, theme: null, selected: null };
const MONTHS = ['J', 'F', 'M', 'A', 'M', 'J', 'J', 'A', 'S', 'O', 'N', 'D'];

// A save retries while the store cannot take it — 503 with Retry-After (the store being moved to another
// backend by `storage cutover`, or a database restarting) or no answer (the app restarting on its new
// store) — so that a click during an upgrade is kept, not lost.
const SAVE_ATTEMPTS = 30;

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

async function api(method, path, body, { retry = false } = {}) {
  const headers = { 'Accept': 'application/json' };
  if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      if (!retry || attempt >= SAVE_ATTEMPTS) throw e;
      status('The app does not answer; saving again in 1 s…');
      await sleep(1000);
      continue;
    }
    if (response.status === 503 && retry && attempt < SAVE_ATTEMPTS) {
      const seconds = Math.min(Math.max(parseInt(response.headers.get('Retry-After'), 10) || 1, 1), 30);
      status(`The store is busy for a moment; saving again in ${seconds} s…`);
      await sleep(seconds * 1000);
      continue;
    }
    if (response.status === 401) {
      signedOut('Your session has ended; sign in again.');
      throw new Error('signed out');
    }
    if (!response.ok) {
      let message = response.status + ' ' + response.statusText;
      try { const problem = await response.json(); message = problem.detail || problem.title || message; } catch { /* not JSON */ }
      throw new Error(message);
    }
    return response.status === 204 ? null : response.json();
  }
}

function status(message) { $('status').textContent = message || ''; }

function signedOut(message) {
  state.token = null;
  localStorage.removeItem('token');
  $('app').hidden = true;
  $('account').hidden = true;
  $('sign-in').hidden = false;
  status(message);
}

function yearFromUrl() {
  const y = parseInt(new URLSearchParams(location.search).get('year'), 10);
  return Number.isInteger(y) ? y : new Date().getFullYear();
}

function pad(n) { return String(n).padStart(2, '0'); }

function colorOf(level) { return level ? state.theme.colors[level - 1] : '#ececec'; }

function renderGrid() {
  const grid = $('grid');
  grid.replaceChildren();
  for (let m = 1; m <= 12; m++) {
    const head = document.createElement('div');
    head.className = 'month';
    head.textContent = MONTHS[m - 1];
    grid.appendChild(head);
    const daysInMonth = new Date(Date.UTC(state.year, m, 0)).getUTCDate();
    for (let d = 1; d <= 31; d++) {
      if (d > daysInMonth) {
        const none = document.createElement('div');
        none.className = 'none';
        grid.appendChild(none);
        continue;
      }
      const date = `${String(state.year).padStart(4, '0')}-${pad(m)}-${pad(d)}`;
      const mood = state.days[date];
      const cell = document.createElement('button');
      cell.type = 'button';
      cell.className = 'day' + (state.selected === date ? ' selected' : '');
      cell.dataset.date = date;
      cell.dataset.level = mood ? mood.level : 0;
      cell.title = date + (mood ? ` — ${mood.level}${mood.note ? ': ' + mood.note : ''}` : '');
      cell.style.background = colorOf(mood && mood.level);
      cell.addEventListener('click', () => openDay(date));
      grid.appendChild(cell);
    }
  }
}

function renderCounts(counts) {
  const list = $('counts');
  list.replaceChildren();
  for (let level = 1; level <= 5; level++) {
    const item = document.createElement('li');
    item.dataset.level = level;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colorOf(level);
    item.append(swatch, `${level}: ${counts[String(level)] || 0}`);
    list.appendChild(item);
  }
}

async function loadYear() {
  const view = await api('GET', '/api/year?year=' + state.year);
  state.days = view.days;
  $('year-title').textContent = String(view.year);
  renderGrid();
  renderCounts(view.counts);
}

async function openDay(date) {
  state.selected = date;
  renderGrid();
  $('day-editor').hidden = false;
  $('day-date').textContent = date;
  const mood = state.days[date];
  for (const radio of document.querySelectorAll('input[name=level]')) radio.checked = mood ? Number(radio.value) === mood.level : false;
  $('day-note').value = mood ? mood.note : '';
  const history = await api('GET', `/api/days/${date}/history`);
  const list = $('day-history');
  list.replaceChildren(...history.map((h) => {
    const item = document.createElement('li');
    item.textContent = `${h.level}${h.note ? ': ' + h.note : ''} (until ${new Date(h.replacedAt).toLocaleString()})`;
    return item;
  }));
}

async function saveDay(event) {
  event.preventDefault();
  const checked = document.querySelector('input[name=level]:checked');
  if (!checked) { status('Choose a level from 1 to 5.'); return; }
  try {
    await api('PUT', '/api/days/' + state.selected, { level: Number(checked.value), note: $('day-note').value }, { retry: true });
    status('');
    await loadYear();
    await openDay(state.selected);
  } catch (e) { if (e.message !== 'signed out') status(e.message); }
}

function fillThemeForm() {
  $('theme-shape').value = state.theme.shape;
  $('theme-spacing').value = state.theme.spacing;
  state.theme.colors.forEach((c, i) => { $('theme-color-' + (i + 1)).value = c; });
}

async function saveTheme(event) {
  event.preventDefault();
  const theme = {
    shape: $('theme-shape').value,
    spacing: $('theme-spacing').value,
    colors: [1, 2, 3, 4, 5].map((i) => $('theme-color-' + i).value),
  };
  try {
    state.theme = await api('PUT', '/api/theme', theme, { retry: true });
    status('Theme saved.');
    await loadYear();
    refreshWallpaper();
  } catch (e) { if (e.message !== 'signed out') status(e.message); }
}

function showWallpaper(wallpaper) {
  $('wallpaper-link').href = '/w/' + wallpaper.token;
  $('wallpaper-link').dataset.token = wallpaper.token;
  refreshWallpaper();
}

function refreshWallpaper() {
  const token = $('wallpaper-link').dataset.token;
  if (token) $('wallpaper-preview').src = `/w/${token}?year=${state.year}&t=${Date.now()}`;
}

async function start() {
  if (!state.token) { signedOut(''); return; }
  try {
    state.year = yearFromUrl();
    state.theme = await api('GET', '/api/theme');
    $('sign-in').hidden = true;
    $('app').hidden = false;
    $('account').hidden = false;
    fillThemeForm();
    await loadYear();
    showWallpaper(await api('GET', '/api/wallpaper'));
  } catch (e) { if (e.message !== 'signed out') status(e.message); }
}

function moveYear(delta) {
  state.year += delta;
  history.replaceState(null, '', '?year=' + state.year);
  $('day-editor').hidden = true;
  state.selected = null;
  loadYear().then(refreshWallpaper).catch((e) => status(e.message));
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const signedIn = await api('POST', '/api/dev/sign-in', { name: $('sign-in-name').value });
    state.token = signedIn.token;
    localStorage.setItem('token', signedIn.token);
    status('');
    await start();
  } catch (e) { status(e.message); }
});
$('sign-out').addEventListener('click', async () => {
  try { await api('POST', '/api/sign-out'); } finally { signedOut('Signed out.'); }
});
$('delete-account').addEventListener('click', async () => {
  if (!confirm('Delete your account, every mood and the wallpaper address? This cannot be undone.')) return;
  await api('DELETE', '/api/me');
  signedOut('Your account is deleted.');
});
$('day-form').addEventListener('submit', saveDay);
$('day-close').addEventListener('click', () => { $('day-editor').hidden = true; state.selected = null; renderGrid(); });
$('theme-form').addEventListener('submit', saveTheme);
$('wallpaper-rotate').addEventListener('click', async () => {
  try { showWallpaper(await api('POST', '/api/wallpaper/rotate')); status('The wallpaper has a new address; the old one no longer works.'); }
  catch (e) { if (e.message !== 'signed out') status(e.message); }
});
$('prev-year').addEventListener('click', () => moveYear(-1));
$('next-year').addEventListener('click', () => moveYear(1));

start();
