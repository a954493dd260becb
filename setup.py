"Reads every piece of package metadata from settings.ini (fastai style)."
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']
licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable']
lic = licenses[cfg['license']]
req = lambda k: cfg.get(k, '').split()  # noqa: E731 (build script, never imported)

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'], license=lic[0], keywords=cfg['keywords'].split(),
    classifiers=[f'Development Status :: {statuses[int(cfg["status"]) - 1]}', f'Intended Audience :: {cfg["audience"]}',
                 f'License :: {lic[1]}', f'Natural Language :: {cfg["language"]}', 'Programming Language :: Python :: 3'],
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    package_data={cfg['lib_path']: ['web/static/*']}, include_package_data=True, python_requires=f'>={cfg["min_python"]}',
    install_requires=req('requirements'),
    extras_require={'dev': req('dev_requirements'), 'wandb': req('wandb_requirements'), 'dist': req('dist_requirements'),
                    'sweep': req('sweep_requirements'), 'web': req('web_requirements')},
    entry_points={'console_scripts': cfg.get('console_scripts', '').split()}, zip_safe=False)
