/* global document, window */
// The documentation's search: every section of every page (assets/search-index.js, written by the
// build), matched against the words typed, in the page itself: no server, no network.
(function () {
  const input = document.getElementById('search');
  const list = document.getElementById('search-results');
  const root = document.body.dataset.root || '';
  const sections = (window.FANOUT_SEARCH || []).map((s) => ({ ...s, headingLow: s.heading.toLowerCase(), textLow: s.text.toLowerCase() }));

  function score(section, words) {
    let total = 0;
    for (const word of words) {
      const inHeading = section.headingLow.includes(word);
      const inText = section.textLow.includes(word);
      if (!inHeading && !inText) return 0;
      total += (inHeading ? 10 : 0) + (inText ? 1 : 0);
    }
    return total;
  }

  function snippet(section, words) {
    const at = Math.max(0, ...words.map((w) => section.textLow.indexOf(w)).filter((i) => i >= 0).slice(0, 1));
    // from the start of a word, some way before the first match
    const start = at > 60 ? section.text.indexOf(' ', at - 60) + 1 : 0;
    return (start > 0 ? '… ' : '') + section.text.slice(start, start + 180) + (start + 180 < section.text.length ? ' …' : '');
  }

  function show() {
    const words = input.value.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
    list.replaceChildren();
    if (words.length === 0) {
      list.hidden = true;
      return;
    }
    const found = sections
      .map((s) => ({ s, n: score(s, words) }))
      .filter((r) => r.n > 0)
      .sort((a, b) => b.n - a.n)
      .slice(0, 20);
    for (const { s } of found) {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = root + s.url;
      link.textContent = s.heading;
      const page = document.createElement('span');
      page.textContent = s.page === s.heading ? '' : ' · ' + s.page;
      const text = document.createElement('p');
      text.textContent = snippet(s, words);
      item.append(link, page, text);
      list.append(item);
    }
    if (found.length === 0) {
      const item = document.createElement('li');
      item.textContent = 'Nothing found.';
      list.append(item);
    }
    list.hidden = false;
  }

  input.addEventListener('input', show);
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      input.value = '';
      show();
    }
  });
})();
