import { runFetchBasic } from './fetch-basic.ts';

await runFetchBasic((line) => console.log(line));
