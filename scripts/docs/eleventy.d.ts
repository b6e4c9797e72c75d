// The little of Eleventy 3 (and of the markdown-it it renders markdown with) that the site build
// uses: Eleventy ships no types of its own.

declare module '@11ty/eleventy' {
  export interface MarkdownToken {
    type: string;
    tag: string;
    content: string;
    children: MarkdownToken[] | null;
    attrGet(name: string): string | null;
    attrSet(name: string, value: string): void;
  }

  export interface MarkdownState {
    tokens: MarkdownToken[];
    /** what Eleventy renders the page with: its data, `page` among it */
    env: { page?: EleventyPage };
  }

  export interface MarkdownIt {
    core: { ruler: { push(name: string, rule: (state: MarkdownState) => void): void } };
  }

  export interface EleventyPage {
    url: string | false;
    inputPath: string;
    filePathStem: string;
  }

  export interface UserConfig {
    setTemplateFormats(formats: string[]): void;
    setUseGitIgnore(enabled: boolean): void;
    addGlobalData(name: string, value: unknown): void;
    addPassthroughCopy(paths: string | Record<string, string>): void;
    amendLibrary(engine: 'md', amend: (md: MarkdownIt) => void): void;
    addTransform(name: string, transform: (this: { page: EleventyPage }, content: string) => string): void;
  }

  export default class Eleventy {
    constructor(input: string, output: string, options: { quietMode?: boolean; config?: (config: UserConfig) => void | Promise<void> });
    write(): Promise<unknown>;
  }
}
