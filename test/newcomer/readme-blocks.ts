/** Reading the README the way a newcomer does: its fenced blocks, section by section. */

/** The text of a `## <heading>` section, up to the next `## ` heading. */
export function readmeSection(readme: string, heading: string): string {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`the README has no "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Every fenced block of a language, with the text before it (since the previous block). */
function fenced(text: string, lang: string): Array<{ before: string; body: string }> {
  const out: Array<{ before: string; body: string }> = [];
  const re = /```(\w*)\n([\s\S]*?)```/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[1] === lang) out.push({ before: text.slice(last, m.index), body: m[2] });
    last = m.index + m[0].length;
  }
  return out;
}

/** The commands of a section's `bash` blocks, one per line, without trailing `# comments`. */
export function sectionCommands(readme: string, heading: string): string[] {
  return fenced(readmeSection(readme, heading), 'bash')
    .flatMap((b) => b.body.split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** `json` blocks shown as the content of an example file: the last `examples/…json` named before each. */
export function readmeJsonBlocks(readme: string): Array<{ file: string; json: string }> {
  return fenced(readme, 'json').flatMap(({ before, body }) => {
    const named = [...before.matchAll(/`(examples\/[\w/.-]+\.json)`/g)].at(-1);
    return named ? [{ file: named[1], json: body }] : [];
  });
}
